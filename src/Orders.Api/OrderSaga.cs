using System.Diagnostics.Metrics;
using Oms.ServiceDefaults;

namespace Orders.Api;

/// <summary>
/// Runs an order from wherever it stands to CONFIRMED, FAILED or CANCELLED: reserve → authorize → confirm, or
/// decide to fail → void/release → FAILED, or (a cancel recorded, PENDING or CONFIRMED) void/release → CANCELLED. Every downstream step is idempotent on order_id, so running
/// it again after a crash or a timeout is always safe. The caller must hold the order's lease.
/// </summary>
public sealed class OrderSaga(InventoryClient inventory, PaymentClient payments, OrderStore store, ILogger<OrderSaga> logger)
{
    private static readonly Meter Meter = new("Oms.Orders");
    private static readonly Counter<long> Finished = Meter.CreateCounter<long>("oms.orders.finished", description: "Orders that reached a final state");
    private static readonly Counter<long> Parked = Meter.CreateCounter<long>("oms.orders.parked", description: "Saga runs that left an order PENDING for recovery");
    private static readonly Counter<long> Unexpected = Meter.CreateCounter<long>("oms.orders.unexpected_answers",
        description: "Answers from inventory or payments outside their contract (a wrong token, a wrong URL, a version mismatch)");

    /// <summary>
    /// Advances the order as far as <paramref name="budget"/> allows; returns it as it stands afterwards. When a
    /// dependency gives no answer and <paramref name="giveUpWhenStuck"/> is set (the order is past its give-up deadline),
    /// the order is decided FAILED with the unavailable dependency as its reason, and compensated.
    /// </summary>
    public async Task<OrderRow> RunAsync(OrderRow order, TimeSpan retryAfter, bool giveUpWhenStuck, CancellationToken budget)
    {
        var stuckAt = InventoryClient.Name;
        try
        {
            if (!order.MustCompensate)
            {
                // A run whose lease ran out (a slow database call, a long recovery batch) must not act: a new holder may be
                // failing this order right now. Its compensation voids and releases, so what a late call does is undone.
                if (!order.HoldsLease()) return await ReloadAsync(order);
                var reason = await inventory.ReserveAsync(order.OrderId, order.Lines, budget);
                if (reason is null)
                {
                    stuckAt = PaymentClient.Name;
                    if (!order.HoldsLease()) return await ReloadAsync(order);
                    reason = await payments.AuthorizeAsync(order.OrderId, order.Amount, budget);
                    if (reason is null)
                    {
                        var confirmed = await ConfirmAsync(order);
                        // The confirm refused because a cancel was recorded meanwhile: still ours, so give everything back.
                        if (!(confirmed is { Status: OrderStatus.Pending, CancelRequested: true } && confirmed.LeaseToken == order.LeaseToken))
                            return confirmed;
                        order = confirmed;
                    }
                }

                if (reason is not null)
                {
                    // Durable before compensating: whoever resumes this order finishes the compensation.
                    var decided = await store.DecideFailureAsync(order, reason, CancellationToken.None);
                    if (decided is null) return await ReloadAsync(order);
                    order = decided;
                }
            }
            return await CompensateAsync(order, s => stuckAt = s, budget);
        }
        catch (Exception e) when (e is DependencyUnavailableException || (e is OperationCanceledException && budget.IsCancellationRequested))
        {
            if (e is DependencyUnavailableException { Unexpected: true })
            {
                Unexpected.Add(1, new KeyValuePair<string, object?>("dependency", stuckAt));
                logger.LogError("Order {OrderId}: {Dependency} gave an answer outside its contract ({Message}); the order stays PENDING " +
                                "and is retried. Check the service token and the URLs.", order.OrderId, stuckAt, e.Message);
            }
            else
            {
                logger.LogInformation("Order {OrderId} left PENDING, {Dependency} unavailable: {Message}", order.OrderId, stuckAt, e.Message);
            }

            // Only an order still going forward gives up; giving back (a decided failure, a cancel) is retried until it is done.
            if (giveUpWhenStuck && !order.MustCompensate)
            {
                var reason = stuckAt == PaymentClient.Name ? FailureReason.PaymentUnavailable : FailureReason.InventoryUnavailable;
                logger.LogWarning("Order {OrderId} past its give-up deadline and {Dependency} gave no answer: failing it as {Reason}",
                    order.OrderId, stuckAt, reason);
                // Compensation follows on the next attempt: this one's budget is spent.
                order = await store.DecideFailureAsync(order, reason, CancellationToken.None) ?? order;
            }
            Parked.Add(1);
            return await store.ParkAsync(order, stuckAt, retryAfter, CancellationToken.None) ?? await ReloadAsync(order);
        }
    }

    private async Task<OrderRow> ConfirmAsync(OrderRow order)
    {
        try
        {
            return Count(await store.ConfirmAsync(order)) ?? await ReloadAsync(order);
        }
        catch (OverloadedException)
        {
            // Too many writes wait for the database: the order is reserved and authorized, and stays PENDING (202) under
            // this run's lease; the recovery worker confirms it once the lease runs out. Nothing is lost, nothing waits here.
            Parked.Add(1);
            return order;
        }
    }

    /// <summary>
    /// Void, release, then FAILED (or CANCELLED when a cancel is recorded). Both always run: each also leaves a tombstone that refuses a late authorize or
    /// reserve (from a run that lost its lease, or an answer lost on the way). A declined payment needs no void: its
    /// stored DECLINED answer is final for the order, so nothing can be authorized for it later.
    /// </summary>
    private async Task<OrderRow> CompensateAsync(OrderRow order, Action<string> stuckAt, CancellationToken budget)
    {
        if (order.CompensateReason != FailureReason.PaymentDeclined)
        {
            stuckAt(PaymentClient.Name);
            await payments.VoidAsync(order.OrderId, budget);
        }
        stuckAt(InventoryClient.Name);
        await inventory.ReleaseAsync(order.OrderId, budget);
        return Count(await store.FinishAsync(order, CancellationToken.None)) ?? await ReloadAsync(order);
    }

    private static OrderRow? Count(OrderRow? final)
    {
        if (final is not null)
            Finished.Add(1, new KeyValuePair<string, object?>("status", final.Status), new KeyValuePair<string, object?>("reason", final.FailureReason));
        return final;
    }

    // We lost the lease (the recovery worker took over, or another replica finished it): report it as it is.
    private async Task<OrderRow> ReloadAsync(OrderRow order) =>
        await store.GetAsync(order.OrderId, CancellationToken.None) ?? order;
}
