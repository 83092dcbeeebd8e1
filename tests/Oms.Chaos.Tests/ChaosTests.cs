using Oms.Chaos;
using Xunit;

namespace Oms.Chaos.Tests;

/// <summary>
/// A short chaos run inside dotnet test: real processes (PostgreSQL, two replicas each of orders, inventory and payment,
/// a RabbitMQ node the order replicas publish their events to), each of them SIGKILLed in turn while orders flow (the
/// order replicas reaching both inventory and both payment replicas), payment and inventory once each wholly (both
/// replicas) held down past the give-up deadline, with multi-line orders and cancels (of confirmed and of still-pending orders) in the stream;
/// afterwards every invariant holds in the databases, the outbox is empty and a consumer that ran throughout received
/// every event of every timeline, first deliveries in sequence order per order.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ShortChaosRunKeepsEveryInvariant()
    {
        using var progress = new StringWriter();
        var result = await ChaosRunner.RunAsync(new ChaosOptions
        {
            Orders = 300,
            Kills = 8, // orders-a, inventory-a, payment-a, postgres, orders-b, inventory-b, payment-b, rabbitmq
            Concurrency = 24,
            Seed = 20261125,
            GiveUp = TimeSpan.FromSeconds(4),
            LongOutages = 2,
            LinesMax = 5,
            CancelShare = 0.2,
            DrainTimeout = TimeSpan.FromSeconds(180), // a deadline, not a measurement: generous for a busy machine
            Log = TextWriter.Synchronized(progress),
        }, TestContext.Current.CancellationToken);
        using var report = new StringWriter();
        result.Print(report);
        output.WriteLine(progress.ToString());
        output.WriteLine(report.ToString());

        Assert.True(result.Aborted is null, report.ToString());
        Assert.Equal(300, result.OrdersSent);
        // Each in its own turn; the two long outages take the other replica of inventory and payment down with the first.
        Assert.Equal(new Dictionary<string, int>
        {
            ["inventory-a"] = 1, ["inventory-b"] = 2, ["orders-a"] = 1, ["orders-b"] = 1,
            ["payment-a"] = 1, ["payment-b"] = 2, ["postgres"] = 1, ["rabbitmq"] = 1,
        }, result.KillsByProcess);
        // Every replica did work: the driver spread the orders, service discovery the saga's calls.
        foreach (var replica in new[] { "orders-a", "orders-b", "inventory-a", "inventory-b", "payment-a", "payment-b" })
            Assert.True(result.ServedByReplica.GetValueOrDefault(replica) > 0, $"{replica} served nothing\n{report}");
        Assert.Empty(result.Violations);
        Assert.Equal(0, result.PendingAfterDrain);
        Assert.Equal(0, result.Unexpected5xx);
        Assert.Empty(result.UnexpectedErrors);
        Assert.Equal(0, result.UnexpectedProcessExits);
        // The mix really produced every kind of outcome, and the outages really gave some orders up.
        Assert.True(result.OrdersByOutcome.GetValueOrDefault("CONFIRMED") > 0, report.ToString());
        Assert.True(result.OrdersByOutcome.GetValueOrDefault("FAILED/PAYMENT_DECLINED") > 0, report.ToString());
        Assert.True(result.OrdersByOutcome.GetValueOrDefault("FAILED/INSUFFICIENT_STOCK") > 0, report.ToString());
        Assert.True(result.OrdersByOutcome.Where(kv => kv.Key.EndsWith("_UNAVAILABLE", StringComparison.Ordinal)).Sum(kv => kv.Value) > 0,
            report.ToString());
        // The new paths ran too: baskets of several lines, cancels that the services took, and every order's timeline.
        Assert.True(result.OrdersByLineCount.Where(kv => kv.Key > 1).Sum(kv => kv.Value) > 0, report.ToString());
        Assert.True(result.OrdersByOutcome.GetValueOrDefault("CANCELLED") > 0, report.ToString());
        Assert.True(result.CancelsByOutcome.GetValueOrDefault("200") > 0, report.ToString());
        Assert.True(result.TimelineEvents >= result.OrdersByOutcome.Where(kv => !kv.Key.StartsWith('(')).Sum(kv => kv.Value), report.ToString());
        // Every event left the system: the relay emptied the outbox and the consumer got each event at least once.
        Assert.Equal(0, result.OutboxBacklog);
        Assert.Equal(result.TimelineEvents, result.EventsDelivered);
        Assert.True(result.EventDeliveries >= result.EventsDelivered, report.ToString());
        Assert.True(result.Success, report.ToString());
    }
}
