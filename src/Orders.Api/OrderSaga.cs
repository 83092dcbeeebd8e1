using System.Diagnostics.Metrics;

namespace Orders.Api;

/// <summary>
/// Runs an order from wherever it stands to CONFIRMED or FAILED: reserve → authorize → confirm, or
/// decide to fail → void/release → FAILED. Every downstream step is idempotent on order_id, so running
/// it again after a crash or a timeout is always safe. The caller must hold the order's lease.
/// </summary>
public sealed class OrderSaga(InventoryClient inventory, PaymentClient payments, OrderStore store, ILogger<OrderSaga> logger)
{
    private static readonly Meter Meter = new("Oms.Orders");
    private static readonly Counter<long> Finished = Meter.CreateCounter<long>("oms.orders.finished", description: "Orders that reached a final state");
    private static readonly Counter<long> Parked = Meter.CreateCounter<long>("oms.orders.parked", description: "Saga runs that left an order PENDING for recovery");

    /// <summary>Advances the order as far as <paramref name="budget"/> allows; returns it as it stands afterwards.</summary>
    public async Task<OrderRow> RunAsync(OrderRow order, TimeSpan retryAfter, CancellationToken budget)
    {
        var stuckAt = InventoryClient.Name;
        try
        {
            if (order.CompensateReason is null)
            {
                var reason = await inventory.ReserveAsync(order.OrderId, order.ItemSku, order.Quantity, budget) switch
                {
                    ReserveOutcome.Reserved => null,
                    ReserveOutcome.InsufficientStock => FailureReason.InsufficientStock,
                    ReserveOutcome.UnknownItem => FailureReason.UnknownItem,
                    _ => FailureReason.InventoryUnavailable,
                };
                if (reason is null)
                {
                    stuckAt = PaymentClient.Name;
                    var authorized = await payments.AuthorizeAsync(order.OrderId, order.Amount, budget);
                    if (authorized == AuthorizeOutcome.Authorized)
                        return Count(await store.ConfirmAsync(order)) ?? await ReloadAsync(order);
                    reason = authorized == AuthorizeOutcome.Declined ? FailureReason.PaymentDeclined : FailureReason.PaymentUnavailable;
                }

                // Durable before compensating: whoever resumes this order finishes the compensation.
                var decided = await store.DecideFailureAsync(order, reason, CancellationToken.None);
                if (decided is null) return await ReloadAsync(order);
                order = decided;
            }
            return await CompensateAsync(order, s => stuckAt = s, budget);
        }
        catch (Exception e) when (e is DependencyUnavailableException || (e is OperationCanceledException && budget.IsCancellationRequested))
        {
            logger.LogInformation("Order {OrderId} left PENDING, {Dependency} unavailable: {Message}", order.OrderId, stuckAt, e.Message);
            Parked.Add(1);
            return await store.ParkAsync(order, stuckAt, retryAfter, CancellationToken.None) ?? await ReloadAsync(order);
        }
    }

    /// <summary>Void (when a charge may exist), release, then FAILED. Release always runs: it also tombstones a late reserve.</summary>
    private async Task<OrderRow> CompensateAsync(OrderRow order, Action<string> stuckAt, CancellationToken budget)
    {
        if (order.CompensateReason is FailureReason.PaymentUnavailable or FailureReason.InventoryUnavailable)
        {
            stuckAt(PaymentClient.Name);
            await payments.VoidAsync(order.OrderId, budget);
        }
        stuckAt(InventoryClient.Name);
        await inventory.ReleaseAsync(order.OrderId, budget);
        return Count(await store.FailAsync(order, CancellationToken.None)) ?? await ReloadAsync(order);
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
