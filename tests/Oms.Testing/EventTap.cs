using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Xunit;

namespace Oms.Testing;

/// <summary>One delivery of an order event, as the tap decoded it from its CloudEvent.</summary>
public sealed record ReceivedEvent(string Id, string Type, string Subject, long Sequence, DateTimeOffset Time, JsonElement Data, bool Redelivered);

/// <summary>
/// A test consumer of <c>oms.events</c>: a durable queue of its own bound with <c>bindingKey</c>, every delivery decoded
/// with the CloudEvents SDK's JsonEventFormatter, recorded, then acked. The connection recovers by itself after a broker
/// crash/restart (the client's automatic recovery re-opens the channel and the consumer), and since the queue is durable
/// and the events persistent, nothing routed to it is lost while the tap is away; an event whose ack the crash swallowed
/// comes again (Redelivered), which is why <see cref="All"/> and <see cref="Distinct"/> differ.
/// </summary>
public sealed class EventTap : IAsyncDisposable
{
    public const string Exchange = "oms.events";

    /// <summary>The CloudEvent extension attribute carrying the event's per-order sequence number.</summary>
    public static readonly CloudEventAttribute SequenceAttribute = CloudEventAttribute.CreateExtension("sequence", CloudEventAttributeType.Integer);

    private static readonly JsonEventFormatter Formatter = new();
    private static readonly TimeSpan RecoveryInterval = TimeSpan.FromMilliseconds(500);

    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly List<ReceivedEvent> _all = [];
    private readonly List<Exception> _decodeErrors = [];

    private EventTap(IConnection connection, IChannel channel, string queue)
    {
        (_connection, _channel, Queue) = (connection, channel, queue);
    }

    /// <summary>The tap's durable queue (named uniquely per tap).</summary>
    public string Queue { get; }

    /// <summary>Every delivery in arrival order, redeliveries and duplicates included.</summary>
    public IReadOnlyList<ReceivedEvent> All { get { lock (_all) return [.. _all]; } }

    /// <summary>The deliveries deduplicated on the CloudEvent id, in first-seen order (what a deduplicating consumer handles).</summary>
    public IReadOnlyList<ReceivedEvent> Distinct { get { lock (_all) return [.. _all.DistinctBy(e => e.Id)]; } }

    public static async Task<EventTap> StartAsync(string amqpUri, string bindingKey = "#")
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(amqpUri),
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = RecoveryInterval,
            ClientProvidedName = "oms-test-event-tap",
        };
        var connection = await factory.CreateConnectionAsync();
        try
        {
            var channel = await connection.CreateChannelAsync();
            // Same arguments as the relay's declaration (durable topic exchange), so either may declare it first.
            await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false);
            var queue = $"oms-test-tap-{Guid.NewGuid():N}";
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(queue, Exchange, bindingKey);
            var tap = new EventTap(connection, channel, queue);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += tap.OnReceivedAsync;
            await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            return tap;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Waits (with a deadline, failing the test on timeout) until <paramref name="predicate"/> holds for the
    /// deduplicated events (<see cref="Distinct"/>); returns that snapshot.
    /// </summary>
    public async Task<IReadOnlyList<ReceivedEvent>> WaitForAsync(Func<IReadOnlyList<ReceivedEvent>, bool> predicate, TimeSpan timeout)
    {
        IReadOnlyList<ReceivedEvent> seen = [];
        await Eventually.UntilAsync(() =>
        {
            ThrowIfUndecodable();
            seen = Distinct;
            return Task.FromResult(predicate(seen));
        }, timeout, $"a condition on the events of tap {Queue} (seen {Distinct.Count} distinct, {All.Count} deliveries)");
        return seen;
    }

    private async Task OnReceivedAsync(object sender, BasicDeliverEventArgs delivery)
    {
        try
        {
            var contentType = delivery.BasicProperties.ContentType is { } type ? new ContentType(type) : null;
            var cloudEvent = Formatter.DecodeStructuredModeMessage(delivery.Body, contentType, [SequenceAttribute]);
            var received = new ReceivedEvent(
                cloudEvent.Id!,
                cloudEvent.Type!,
                cloudEvent.Subject!,
                Convert.ToInt64(cloudEvent[SequenceAttribute]),
                cloudEvent.Time!.Value,
                cloudEvent.Data is JsonElement data ? data.Clone() : default,
                delivery.Redelivered);
            lock (_all) _all.Add(received);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or JsonException or InvalidCastException or NullReferenceException or InvalidOperationException)
        {
            // A malformed event fails the next WaitForAsync rather than vanishing silently.
            lock (_decodeErrors) _decodeErrors.Add(e);
        }
        // Ack after recording: a crash before this line means the broker delivers it again.
        try { await _channel.BasicAckAsync(delivery.DeliveryTag, multiple: false); }
        catch (RabbitMQ.Client.Exceptions.AlreadyClosedException) { /* the broker went away: it redelivers this one */ }
    }

    private void ThrowIfUndecodable()
    {
        lock (_decodeErrors)
            if (_decodeErrors.Count > 0)
                Assert.Fail($"Tap {Queue} received an event it could not decode as a CloudEvent: {_decodeErrors[0]}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_connection.IsOpen) await _channel.QueueDeleteAsync(Queue);
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.OperationInterruptedException or RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException)
        {
            // The node may be gone already (a test that ends with it killed); the queue dies with the node.
        }
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
