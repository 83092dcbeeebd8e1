using System.Text.Json;
using HdrHistogram;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Oms.LoadGen;

/// <summary>
/// Relay lag as a consumer sees it: the time a CloudEvent arrives here minus its <c>time</c> attribute. That attribute
/// is the order transaction's timestamp (PostgreSQL's now(), taken when the transaction started, so at or before its
/// commit), hence receive − time is an upper bound of commit → delivery at a consumer, which is commit → broker confirm
/// plus the broker's hop to the consumer (the broker delivers a persistent message about when it confirms it). Both
/// clocks must be the same one: the bench runs PostgreSQL and the load generator on one host.
/// Only the first delivery of an id whose <c>time</c> falls in the measured window is measured; later ones are counted as
/// duplicates.
/// </summary>
public sealed class RelayLagTally
{
    private readonly LongHistogram _histogram = Latency.NewHistogram();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _deliveries, _duplicates, _unreadable, _measured;
    private DateTimeOffset _windowStart = DateTimeOffset.MaxValue, _windowEnd = DateTimeOffset.MaxValue;

    /// <summary>Events whose <c>time</c> is in [start, end) are measured; none before this is called.</summary>
    public void SetWindow(DateTimeOffset start, DateTimeOffset end)
    {
        lock (_gate) (_windowStart, _windowEnd) = (start, end);
    }

    /// <summary>First deliveries of events committed in the window: the lags measured so far.</summary>
    public long Measured { get { lock (_gate) return _measured; } }

    public void Record(ReadOnlySpan<byte> body, DateTimeOffset receivedAt)
    {
        var readable = TryReadEvent(body, out var id, out var time);
        lock (_gate)
        {
            _deliveries++;
            if (!readable)
            {
                _unreadable++;
                return;
            }
            if (!_seen.Add(id!))
            {
                _duplicates++;
                return;
            }
            if (time < _windowStart || time >= _windowEnd) return;
            var micros = (long)((receivedAt - time).TotalMicroseconds);
            _histogram.RecordValue(Math.Clamp(micros, 1, Latency.HighestMicros));
            _measured++;
        }
    }

    public RelayLagSummary Summarize()
    {
        lock (_gate) return new RelayLagSummary(_deliveries, _duplicates, _unreadable, Latency.Summarize(_histogram));
    }

    /// <summary>The <c>id</c> and <c>time</c> of a structured-mode CloudEvent (JSON); false when either is missing.</summary>
    internal static bool TryReadEvent(ReadOnlySpan<byte> json, out string? id, out DateTimeOffset time)
    {
        id = null;
        time = default;
        var haveTime = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            var depth = 0;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray: depth++; break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray: depth--; break;
                    case JsonTokenType.PropertyName when depth == 1:
                        if (reader.ValueTextEquals("id"u8)) { reader.Read(); id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                        else if (reader.ValueTextEquals("time"u8))
                        {
                            reader.Read();
                            haveTime = reader.TokenType == JsonTokenType.String && DateTimeOffset.TryParse(reader.GetString(),
                                System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out time);
                        }
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }
        return id is { Length: > 0 } && haveTime;
    }
}

/// <summary>What the consumer saw: every delivery, the duplicates among them, and the lag of the measured first deliveries.</summary>
public sealed record RelayLagSummary(long Deliveries, long Duplicates, long Unreadable, LatencySummary LagMs);

/// <summary>
/// A consumer of <c>oms.events</c> for the run: an exclusive, server-named queue bound with <c>#</c> (every event type),
/// auto-ack (it only measures), feeding a <see cref="RelayLagTally"/>.
/// </summary>
public sealed class RelayLagMeter : IAsyncDisposable
{
    /// <summary>The exchange the order service publishes to; declared here with the relay's arguments, so the binding never races it.</summary>
    public const string Exchange = "oms.events";

    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private RelayLagMeter(IConnection connection, IChannel channel) => (_connection, _channel) = (connection, channel);

    public static async Task<RelayLagMeter> StartAsync(Uri amqpUri, RelayLagTally tally, CancellationToken ct)
    {
        var factory = new ConnectionFactory { Uri = amqpUri, ClientProvidedName = "oms-loadgen-relay-lag" };
        var connection = await factory.CreateConnectionAsync(ct);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: ct);
            var queue = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: ct);
            await channel.QueueBindAsync(queue.QueueName, Exchange, "#", cancellationToken: ct);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) =>
            {
                tally.Record(delivery.Body.Span, DateTimeOffset.UtcNow);
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer, ct);
            return new RelayLagMeter(connection, channel);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// After the load: waits until no new measured event arrived for <paramref name="quiet"/> (the relay has caught up with
    /// the window), at most <paramref name="limit"/>.
    /// </summary>
    public static async Task WaitQuietAsync(RelayLagTally tally, TimeSpan quiet, TimeSpan limit, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + limit;
        var before = tally.Measured;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(quiet, ct);
            var now = tally.Measured;
            if (now == before) return;
            before = now;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
