using Oms.Chaos;
using Xunit;

namespace Oms.Chaos.Tests;

/// <summary>
/// A short chaos run inside dotnet test: real processes (PostgreSQL, inventory, payment, two order replicas, a RabbitMQ
/// node they publish their events to), each of them SIGKILLed once while orders flow, payment and inventory once each held down past the
/// give-up deadline, with multi-line orders and cancels (of confirmed and of still-pending orders) in the stream;
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
            Kills = 6, // orders-a, inventory, payment, postgres, orders-b, rabbitmq
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
        foreach (var process in new[] { "orders-a", "orders-b", "inventory", "payment", "postgres", "rabbitmq" })
            Assert.Equal(1, result.KillsByProcess.GetValueOrDefault(process));
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
