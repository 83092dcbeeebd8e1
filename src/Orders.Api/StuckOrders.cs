using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orders.Api;

/// <summary>
/// PENDING orders older than the give-up deadline, and cancels recorded longer ago than it and not finished, as the recovery
/// worker last counted them. Such an order is waiting
/// for a dependency that gives no usable answer (down for long, a wrong token or URL): an operator should look. It
/// shows as a gauge on /metrics and makes the health report Degraded; readiness stays up, since new orders still work.
/// </summary>
public sealed class StuckOrders : IHealthCheck
{
    private long _count;
    private double _oldestSeconds;

    public StuckOrders(IMeterFactory meters)
    {
        // From the host's factory: the gauges live and die with this service provider.
        var meter = meters.Create("Oms.Orders.Recovery");
        meter.CreateObservableGauge("oms.orders.pending_past_deadline", () => Interlocked.Read(ref _count),
            description: "PENDING orders older than Recovery:GiveUpAfter, and cancels not finished that long after they were recorded");
        meter.CreateObservableGauge("oms.orders.pending_past_deadline.oldest_age", () => Volatile.Read(ref _oldestSeconds), unit: "s",
            description: "Age of the oldest of them, from its creation or its cancel (0 when none)");
    }

    public long Count => Interlocked.Read(ref _count);

    public void Update((long Count, TimeSpan OldestAge) counted)
    {
        Interlocked.Exchange(ref _count, counted.Count);
        Volatile.Write(ref _oldestSeconds, counted.Count == 0 ? 0 : counted.OldestAge.TotalSeconds);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var count = Count;
        return Task.FromResult(count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Degraded($"{count} order(s) PENDING or with an unfinished cancel past the give-up deadline, the oldest {Volatile.Read(ref _oldestSeconds):F0} s old: " +
                                         "a dependency gives no usable answer (see the logs)."));
    }
}
