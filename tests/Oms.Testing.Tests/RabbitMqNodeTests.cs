using CloudNative.CloudEvents;
using Oms.Testing;
using RabbitMQ.Client;

namespace Oms.Testing.Tests;

public sealed class RabbitMqNodeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_cloud_event_published_to_oms_events_reaches_the_tap()
    {
        await using var node = await RabbitMqNode.StartAsync();
        await using var tap = await EventTap.StartAsync(node.AmqpUri);
        var orderId = Guid.NewGuid();

        var sent = await PublishAsync(node.AmqpUri, orderId, 1, "order.created", new { total = 42.5m });

        var seen = await tap.WaitForAsync(events => events.Any(e => e.Id == sent.Id), Timeout);
        var received = Assert.Single(seen);
        Assert.Equal(("order.created", orderId.ToString(), 1L), (received.Type, received.Subject, received.Sequence));
        Assert.Equal(sent.Time, received.Time);
        Assert.Equal(42.5m, received.Data.GetProperty("total").GetDecimal());
        Assert.False(received.Redelivered);
    }

    [Fact]
    public async Task After_a_SIGKILL_and_restart_the_tap_reconnects_and_receives_what_is_published_next()
    {
        await using var node = await RabbitMqNode.StartAsync();
        await using var tap = await EventTap.StartAsync(node.AmqpUri, bindingKey: "order.*");
        await node.SettleAsync(); // the tap's queue and binding exist before the crash (RabbitMqNode.SettleAsync)
        var orderId = Guid.NewGuid();
        var before = await PublishAsync(node.AmqpUri, orderId, 1, "order.created", new { });
        await tap.WaitForAsync(events => events.Any(e => e.Id == before.Id), Timeout);

        node.Kill();
        Assert.False(await AcceptsConnectionsAsync(node.AmqpUri), "the node still accepts AMQP connections after Kill()");
        await node.RestartAsync();

        var after = await PublishAsync(node.AmqpUri, orderId, 2, "order.confirmed", new { });
        var seen = await tap.WaitForAsync(events => events.Any(e => e.Id == after.Id), Timeout);
        Assert.Equal([before.Id, after.Id], seen.Select(e => e.Id));
        Assert.Equal([1L, 2L], seen.Select(e => e.Sequence));
    }

    [Fact]
    public async Task A_durable_queue_and_its_persistent_messages_survive_a_SIGKILL()
    {
        await using var node = await RabbitMqNode.StartAsync();
        const string queue = "survives-kill";
        var ct = TestContext.Current.CancellationToken;
        await using (var connection = await new ConnectionFactory { Uri = new Uri(node.AmqpUri) }.CreateConnectionAsync(ct))
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: ct))
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
        // The queue exists before the crash (RabbitMqNode.SettleAsync), as the relay's exchange and its consumers' queues
        // do. What the relay relies on is the next part: a confirmed persistent message survives a crash.
        await node.SettleAsync();

        await using (var connection = await new ConnectionFactory { Uri = new Uri(node.AmqpUri) }.CreateConnectionAsync(ct))
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct))
        {
            // Confirmed = on disk: what the relay relies on before it marks an event sent.
            await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, "kept"u8.ToArray(), ct);
        }

        node.Kill();
        await node.RestartAsync();

        // After a crash the node recovers its virtual host's queues while its listener may already take connections: until
        // then the queue answers 404 NOT_FOUND (and the 404 closes the channel). Lost for good would stay 404 past the deadline.
        await using var again = await new ConnectionFactory { Uri = new Uri(node.AmqpUri) }.CreateConnectionAsync(ct);
        BasicGetResult? message = null;
        await Eventually.UntilAsync(async () =>
        {
            await using var read = await again.CreateChannelAsync(cancellationToken: ct);
            try
            {
                message = await read.BasicGetAsync(queue, autoAck: true, ct);
                return true;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                return false;
            }
        }, Timeout, $"queue {queue} recovered after the restart");
        Assert.NotNull(message);
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(message.Body.Span));
    }

    private static async Task<bool> AcceptsConnectionsAsync(string amqpUri)
    {
        try
        {
            await using var connection = await new ConnectionFactory { Uri = new Uri(amqpUri), AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
            return true;
        }
        catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException) { return false; }
    }

    private static async Task<CloudEvent> PublishAsync(string amqpUri, Guid orderId, int sequence, string type, object data)
    {
        var cloudEvent = TestEventPublisher.Create(orderId, sequence, type, data);
        await TestEventPublisher.PublishAsync(amqpUri, cloudEvent);
        return cloudEvent;
    }
}
