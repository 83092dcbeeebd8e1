using System.Text;
using Oms.EventsConsumer;
using Oms.Testing;
using RabbitMQ.Client;

namespace Oms.EventsConsumer.Tests;

/// <summary>The consumer (its EventsConsumer + OrderEventHandler, in-process) against a real RabbitMQ node.</summary>
public sealed class ConsumerTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private RabbitMqNode _node = null!;
    private readonly StringWriter _output = new();
    private readonly StringWriter _log = new();
    private TextWriter Output => TextWriter.Synchronized(_output);

    public async ValueTask InitializeAsync() => _node = await RabbitMqNode.StartAsync();

    public async ValueTask DisposeAsync() => await _node.DisposeAsync();

    private ConsumerOptions Options(string queue, params string[] bindings) => new()
    {
        Uri = _node.AmqpUri,
        Queue = queue,
        Bindings = bindings.Length == 0 ? [ConsumerOptions.DefaultBinding] : bindings,
        RecoveryInterval = TimeSpan.FromMilliseconds(500),
    };

    private string[] OutputLines() { lock (_output) return _output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries); }

    [Fact]
    public async Task Each_event_is_printed_once_in_order_the_duplicate_is_skipped_and_everything_is_acked()
    {
        var orderId = Guid.NewGuid();
        var created = TestEventPublisher.Create(orderId, 1, "order.created", new { lines = new[] { new { sku = "SKU-1", quantity = 2 } } });
        var reserved = TestEventPublisher.Create(orderId, 2, "order.stock_reserved", new { });
        var confirmed = TestEventPublisher.Create(orderId, 3, "order.confirmed", new { paymentId = "p-1" });
        var handler = new OrderEventHandler(Output, ConsumerOptions.DefaultDedupeCapacity);

        await using (await EventsConsumer.StartAsync(Options("printer"), handler, TextWriter.Synchronized(_log), TestContext.Current.CancellationToken))
        {
            // The second copy of "reserved" is what a relay that crashed before marking its batch sent publishes again.
            await TestEventPublisher.PublishAsync(_node.AmqpUri, created, reserved, reserved, confirmed);
            await Eventually.UntilAsync(() => Task.FromResult(handler.Handled + handler.Duplicates == 4), Timeout, "4 deliveries handled");
        }

        var lines = OutputLines();
        Assert.Equal(3, lines.Length);
        Assert.Equal([$"order.created", "order.stock_reserved", "order.confirmed"], lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
        Assert.Equal(
            $"{created.Time!.Value.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ} order.created            order={orderId} seq=1 data={{\"lines\":[{{\"sku\":\"SKU-1\",\"quantity\":2}}]}}",
            lines[0]);
        Assert.EndsWith($"order={orderId} seq=3 data={{\"paymentId\":\"p-1\"}}", lines[2]);
        Assert.Equal((3, 1, 0), (handler.Handled, handler.Duplicates, handler.Rejected));
        Assert.Contains($"duplicate {reserved.Id} (order.stock_reserved order={orderId} seq=2) skipped", _log.ToString());
        // Acked, all four: after the consumer stopped nothing is left in (or returned to) its queue.
        Assert.Equal(0u, await MessagesInQueueAsync("printer"));
    }

    [Fact]
    public async Task A_message_that_is_not_a_cloud_event_is_rejected_once_and_the_next_event_is_still_handled()
    {
        var orderId = Guid.NewGuid();
        var next = TestEventPublisher.Create(orderId, 1, "order.created", new { });
        var handler = new OrderEventHandler(Output, ConsumerOptions.DefaultDedupeCapacity);

        await using (await EventsConsumer.StartAsync(Options("rejects"), handler, TextWriter.Synchronized(_log), TestContext.Current.CancellationToken))
        {
            await TestEventPublisher.PublishRawAsync(_node.AmqpUri, ("order.created", "garbage-1", "application/cloudevents+json", Encoding.UTF8.GetBytes("{not json")));
            await TestEventPublisher.PublishAsync(_node.AmqpUri, next);
            await Eventually.UntilAsync(() => Task.FromResult(handler.Handled == 1), Timeout, "the valid event handled");
        }

        Assert.Equal(1, handler.Rejected); // once: rejected without requeue, not redelivered in a loop
        Assert.Single(OutputLines());
        Assert.Contains("rejected message garbage-1", _log.ToString());
        Assert.Equal(0u, await MessagesInQueueAsync("rejects"));
    }

    [Fact]
    public async Task Only_the_bound_event_types_arrive()
    {
        var orderId = Guid.NewGuid();
        var handler = new OrderEventHandler(Output, ConsumerOptions.DefaultDedupeCapacity);

        await using (await EventsConsumer.StartAsync(Options("finals", "order.confirmed", "order.failed"), handler, TextWriter.Synchronized(_log), TestContext.Current.CancellationToken))
        {
            await TestEventPublisher.PublishAsync(_node.AmqpUri,
                TestEventPublisher.Create(orderId, 1, "order.created", new { }),
                TestEventPublisher.Create(orderId, 2, "order.stock_reserved", new { }),
                TestEventPublisher.Create(orderId, 3, "order.confirmed", new { }));
            await Eventually.UntilAsync(() => Task.FromResult(handler.Handled == 1), Timeout, "the confirmed event handled");
        }

        Assert.Contains("order.confirmed", Assert.Single(OutputLines()));
    }

    [Fact]
    public async Task After_a_broker_SIGKILL_and_restart_it_reconnects_and_handles_what_comes_next()
    {
        var orderId = Guid.NewGuid();
        var handler = new OrderEventHandler(Output, ConsumerOptions.DefaultDedupeCapacity);

        await using (await EventsConsumer.StartAsync(Options("survivor"), handler, TextWriter.Synchronized(_log), TestContext.Current.CancellationToken))
        {
            await _node.SettleAsync(); // its queue and binding exist before the crash (RabbitMqNode.SettleAsync)
            await TestEventPublisher.PublishAsync(_node.AmqpUri, TestEventPublisher.Create(orderId, 1, "order.created", new { }));
            await Eventually.UntilAsync(() => Task.FromResult(handler.Handled == 1), Timeout, "the first event handled");

            _node.Kill();
            await _node.RestartAsync();

            await TestEventPublisher.PublishAsync(_node.AmqpUri, TestEventPublisher.Create(orderId, 2, "order.cancelled", new { }));
            await Eventually.UntilAsync(() => Task.FromResult(handler.Handled == 2), Timeout, "the event published after the restart handled");
        }

        Assert.Equal(["seq=1", "seq=2"], OutputLines().Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]));
        Assert.Contains("reconnected; consuming again", _log.ToString());
    }

    private async Task<uint> MessagesInQueueAsync(string queue)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await new ConnectionFactory { Uri = new Uri(_node.AmqpUri) }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        return (await channel.QueueDeclarePassiveAsync(queue, ct)).MessageCount;
    }
}
