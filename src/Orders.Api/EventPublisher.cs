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
    private ConfirmWindow? _window;

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

        // Published one after another on one channel, so the broker receives them in this order; each call returns once
        // its frames are queued for the socket. The broker's confirms are gathered by delivery tag (ConfirmWindow) rather
        // than by the client's per-publish tracking, whose bookkeeping costs more than the publish itself at this rate.
        // The deadline covers the publishes too (the broker may block us): past it the connection is dropped.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(_options.ConfirmTimeout);
        Exception? failure = null;
        var published = 0;
        ConfirmWindow? window = null;
        try
        {
            window = new ConfirmWindow(channel, await channel.GetNextPublishSequenceNumberAsync(deadline.Token), events.Count);
            Volatile.Write(ref _window, window);
            for (; published < events.Count; published++)
            {
                var e = events[published];
                var properties = new BasicProperties
                {
                    Persistent = true,
                    MessageId = e.EventId.ToString(),
                    ContentType = ContentType,
                    Type = e.Type,
                    Timestamp = new AmqpTimestamp(new DateTimeOffset(e.OccurredAt, TimeSpan.Zero).ToUnixTimeSeconds()),
                };
                // Not mandatory: an event no queue is bound for is simply not wanted by anyone, and the broker confirms it.
                await channel.BasicPublishAsync(Exchange, e.Type, mandatory: false, properties, bodies[published], deadline.Token);
            }
            await window.Settled.WaitAsync(deadline.Token);
            failure = window.Failure;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await DropConnectionAsync();
            throw;
        }
        catch (OperationCanceledException)
        {
            failure = NotConfirmed(events.Count);
        }
        catch (Exception e)
        {
            failure = e; // the channel or connection failed under a publish
        }

        // Only the confirmed prefix counts: an event after an unconfirmed one is not taken as sent.
        var confirmed = Math.Min(window?.ConfirmedPrefix ?? 0, published);
        if (confirmed < events.Count)
        {
            failure ??= NotConfirmed(events.Count);
            await DropConnectionAsync();
        }
        return (confirmed, failure);
    }

    private TimeoutException NotConfirmed(int count) => new($"The broker did not confirm {count} events within {_options.ConfirmTimeout}.");

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
        // A batch bounds what is in flight (Events:BatchSize rows, at most three events each).
        var channel = await _connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false,
            outstandingPublisherConfirmationsRateLimiter: null), ct);
        // Confirms (and the channel failing) settle the batch in flight on this channel; anything from an earlier channel is ignored.
        ConfirmWindow? Window() => Volatile.Read(ref _window) is { } w && w.Channel == channel ? w : null;
        channel.BasicAcksAsync += (_, e) => { Window()?.Ack(e.DeliveryTag, e.Multiple); return Task.CompletedTask; };
        channel.BasicNacksAsync += (_, e) => { Window()?.Nack(e.DeliveryTag, e.Multiple); return Task.CompletedTask; };
        channel.ChannelShutdownAsync += (_, e) =>
        {
            Window()?.Fail(new InvalidOperationException($"The channel to the broker closed: {e.ReplyCode} {e.ReplyText}"));
            return Task.CompletedTask;
        };
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

/// <summary>
/// The broker's confirms for one batch: delivery tags <c>first</c> .. <c>first + count - 1</c> on the relay's channel. Acks
/// may come singly or for every tag up to one (<c>multiple</c>), and not necessarily in order; a nack, or the channel
/// closing, settles the batch as failed. What counts as sent is the confirmed prefix.
/// </summary>
internal sealed class ConfirmWindow(object channel, ulong first, int count)
{
    /// <summary>The channel the batch is published on (its delivery tags are that channel's).</summary>
    public object Channel { get; } = channel;

    private readonly bool[] _acked = new bool[count];
    private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pending = count;
    private readonly ulong _end = first + (ulong)count;
    private Exception? _failure;
    private int _refusedAt = int.MaxValue;

    /// <summary>Completes when every publish is acked, or on the first nack or channel failure.</summary>
    public Task Settled => _acked.Length == 0 ? Task.CompletedTask : _settled.Task;

    public Exception? Failure { get { lock (_acked) return _failure; } }

    /// <summary>How many publishes from the first were acked without a gap.</summary>
    public int ConfirmedPrefix
    {
        get
        {
            lock (_acked)
            {
                var n = 0;
                while (n < _acked.Length && n < _refusedAt && _acked[n]) n++;
                return n;
            }
        }
    }

    public void Ack(ulong tag, bool multiple)
    {
        var (from, to) = Range(tag, multiple);
        lock (_acked)
        {
            for (var i = from; i < to; i++)
                if (!_acked[i]) { _acked[i] = true; _pending--; }
            if (_pending == 0) _settled.TrySetResult();
        }
    }

    public void Nack(ulong tag, bool multiple)
    {
        var (from, to) = Range(tag, multiple);
        if (from >= to) return; // not this batch's
        int refused;
        lock (_acked)
        {
            // The first refused publish (one already acked stays acked): nothing from it on counts, whatever comes later.
            for (var i = from; i < to; i++)
                if (!_acked[i]) { _refusedAt = Math.Min(_refusedAt, i); break; }
            refused = _refusedAt;
        }
        Fail(new InvalidOperationException($"The broker refused (nacked) event {refused + 1} of the batch's {_acked.Length}."));
    }

    public void Fail(Exception failure)
    {
        lock (_acked)
        {
            _failure ??= failure;
            _settled.TrySetResult();
        }
    }

    /// <summary>This batch's indexes [from, to) that a confirm of <paramref name="tag"/> covers (empty when it is another batch's).</summary>
    private (int From, int To) Range(ulong tag, bool multiple)
    {
        if (tag >= _end) return multiple ? (0, _acked.Length) : (0, 0);
        if (tag < first) return (0, 0);
        var index = (int)(tag - first);
        return (multiple ? 0 : index, index + 1);
    }
}
