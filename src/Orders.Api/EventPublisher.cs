using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Orders.Api;

/// <summary>
/// Publishes order events to RabbitMQ as CloudEvents 1.0 (structured-mode JSON), on one channel with publisher confirms,
/// to the durable topic exchange <see cref="Exchange"/> with the event type as routing key. Used by the relaying replica
/// only (one caller at a time); any failure drops the connection, and the next call connects again.
/// </summary>
public sealed class EventPublisher(EventPublishing publishing, IOptions<EventsOptions> options, IHostEnvironment environment)
    : IAsyncDisposable
{
    public const string Exchange = "oms.events";
    public const string ContentType = "application/cloudevents+json; charset=utf-8";
    public static readonly Uri Source = new("/oms/orders", UriKind.Relative);

    /// <summary>The event's place in its order's timeline (1, 2, 3…), a CloudEvents extension attribute.</summary>
    public static readonly CloudEventAttribute SequenceAttribute = CloudEventAttribute.CreateExtension("sequence", CloudEventAttributeType.Integer);

    private static readonly JsonEventFormatter Formatter = new();
    private readonly EventsOptions _options = options.Value;
    private IConnection? _connection;
    private IChannel? _channel;

    /// <summary>Whether this replica has an open channel to the broker (it is relaying, and its last attempt worked).</summary>
    public bool IsOpen => Volatile.Read(ref _channel)?.IsOpen == true;

    /// <summary>
    /// Publishes <paramref name="events"/> in order and waits for the broker's confirms. Returns how many of them, from the
    /// first, were confirmed (every one unless <c>Failure</c> is set: then the rest may or may not have reached the broker).
    /// </summary>
    public async Task<(int Confirmed, Exception? Failure)> PublishAsync(IReadOnlyList<OutboxEvent> events, CancellationToken ct)
    {
        // Encoded before anything is sent: a publish is never started that a later encoding failure would leave unawaited.
        var bodies = events.Select(Encode).ToArray();
        IChannel channel;
        try
        {
            channel = _channel is { IsOpen: true } open ? open : await ConnectAsync(ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            await DropConnectionAsync();
            return (0, e);
        }

        // Started in order on one channel: the client sends them in the order of the calls (each takes the channel's
        // confirm lock, released to waiters first come, first served), so the broker receives them in this order.
        // Awaited together afterwards, as in the client's PublisherConfirms example; each completes on its confirm.
        // No token is passed to the publishes: one cancelled while waiting for the lock would let a later one go out
        // before it. The wait for the confirms is what gives up (on time-out or shutdown), by dropping the connection.
        var publishes = new Task[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var properties = new BasicProperties
            {
                Persistent = true,
                MessageId = e.EventId.ToString(),
                ContentType = ContentType,
                Type = e.Type,
                Timestamp = new AmqpTimestamp(new DateTimeOffset(e.OccurredAt, TimeSpan.Zero).ToUnixTimeSeconds()),
            };
            // Not mandatory: an event no queue is bound for is simply not wanted by anyone, and the broker confirms it.
            publishes[i] = channel.BasicPublishAsync(Exchange, e.Type, mandatory: false, properties, bodies[i], CancellationToken.None).AsTask();
        }

        Exception? failure = null;
        try
        {
            await Task.WhenAll(publishes).WaitAsync(_options.ConfirmTimeout, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await DropConnectionAsync();
            throw;
        }
        catch (TimeoutException e)
        {
            failure = e;
        }
        catch (Exception)
        {
            // Some publish failed (a nack, the channel closed): which ones is read below.
        }

        // Only the confirmed prefix counts: an event after an unconfirmed one is not taken as sent.
        var confirmed = 0;
        while (confirmed < publishes.Length && publishes[confirmed].IsCompletedSuccessfully) confirmed++;
        if (confirmed < publishes.Length)
        {
            failure ??= publishes[confirmed].Exception?.InnerException
                        ?? new TimeoutException($"The broker did not confirm within {_options.ConfirmTimeout}.");
            await DropConnectionAsync();
        }
        return (confirmed, failure);
    }

    /// <summary>Opens and closes a connection of its own: whether the broker takes connections now (for the health check).</summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        await using var connection = await CreateFactory("health probe").CreateConnectionAsync(ct);
        await connection.CloseAsync(ct);
    }

    /// <summary>The event as a structured-mode CloudEvent: what a consumer receives as the message body.</summary>
    public static ReadOnlyMemory<byte> Encode(OutboxEvent e)
    {
        using var data = JsonDocument.Parse(e.Data);
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0, [SequenceAttribute])
        {
            Id = e.EventId.ToString(),
            Source = Source,
            Type = e.Type,
            Subject = e.OrderId.ToString(),
            Time = new DateTimeOffset(e.OccurredAt, TimeSpan.Zero),
            DataContentType = "application/json",
            Data = data.RootElement,
        };
        cloudEvent[SequenceAttribute] = e.Sequence;
        return Formatter.EncodeStructuredModeMessage(cloudEvent, out _);
    }

    private async Task<IChannel> ConnectAsync(CancellationToken ct)
    {
        await DropConnectionAsync();
        _connection = await CreateFactory("outbox relay").CreateConnectionAsync(ct);
        // No rate limiter: its throttling delays each publish by its own amount, which could reorder them. A batch bounds
        // what is in flight instead (Events:BatchSize rows, at most three events each).
        var channel = await _connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true,
            outstandingPublisherConfirmationsRateLimiter: null), ct);
        await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false, arguments: null,
            passive: false, noWait: false, cancellationToken: ct);
        Volatile.Write(ref _channel, channel);
        return channel;
    }

    private ConnectionFactory CreateFactory(string purpose) => new()
    {
        Uri = new Uri(publishing.BrokerUri ?? throw new InvalidOperationException("Publishing is off: no broker is configured.")),
        // The relay recovers by itself: on any failure it drops the connection, backs off, connects and declares anew. The
        // client's own recovery would re-open the channel underneath it while it still judges the failed batch.
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = _options.ConnectTimeout,
        ClientProvidedName = $"{environment.ApplicationName} {purpose}",
    };

    private async Task DropConnectionAsync()
    {
        var channel = Interlocked.Exchange(ref _channel, null);
        var connection = Interlocked.Exchange(ref _connection, null);
        // A dead broker makes closing fail or time out: the connection is abandoned either way.
        try { if (channel is not null) await channel.DisposeAsync(); } catch (Exception) { }
        try { if (connection is not null) await connection.DisposeAsync(); } catch (Exception) { }
    }

    public async ValueTask DisposeAsync() => await DropConnectionAsync();
}
