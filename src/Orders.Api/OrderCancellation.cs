using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>How a cancel ended, as the client is answered.</summary>
public enum CancellationOutcome
{
    /// <summary>The order is CANCELLED: by this request, or before it (200).</summary>
    Cancelled,
    /// <summary>The cancel is recorded and the order ends CANCELLED once what it holds is given back (202, the order as it stands).</summary>
    Accepted,
    /// <summary>The order FAILED: there is nothing to cancel (409 order_not_cancellable).</summary>
    NotCancellable,
    /// <summary>No such order (404).</summary>
    NotFound,
}

public sealed record Cancellation(CancellationOutcome Outcome, OrderRow? Order);

/// <summary>
/// The one owner of cancelling an order. The cancel is made durable first (with its event); a CONFIRMED order is then
/// leased to this request, which voids, releases and marks it CANCELLED within the request budget; a PENDING order is
/// left to whoever runs its saga, which can no longer confirm it and gives everything back instead. Whatever this
/// request does not finish (a crash, a dependency down) the recovery worker does.
/// </summary>
public sealed class OrderCancellation(OrderStore store, OrderSaga saga, IOptions<SagaOptions> options)
{
    public async Task<Cancellation> CancelAsync(Guid orderId, string? reason)
    {
        var sagaOptions = options.Value;
        var leaseToken = Guid.NewGuid();
        var order = await store.RequestCancelAsync(orderId, reason, leaseToken, sagaOptions.RequestLease, CancellationToken.None);
        if (order is null)
        {
            // Not recorded now: unknown, final, or its cancel was recorded before (a repeat, or a racing cancel).
            order = await store.GetAsync(orderId, CancellationToken.None);
            switch (order?.Status)
            {
                case null: return new(CancellationOutcome.NotFound, null);
                case OrderStatus.Cancelled: return new(CancellationOutcome.Cancelled, order);
                case OrderStatus.Failed: return new(CancellationOutcome.NotCancellable, order);
                case OrderStatus.Pending: return new(CancellationOutcome.Accepted, order);
            }
            // CONFIRMED with a cancel nobody is finishing (its canceller crashed or gave up): this request finishes it.
            order = await store.TakeOverCancelAsync(orderId, leaseToken, sagaOptions.RequestLease, CancellationToken.None);
            if (order is null) return new(CancellationOutcome.Accepted, await store.GetAsync(orderId, CancellationToken.None));
        }
        if (order.Status == OrderStatus.Pending) return new(CancellationOutcome.Accepted, order);

        // Not cancelled when the client goes away: finishing the cancel is cheaper than recovering it.
        using var budget = new CancellationTokenSource(sagaOptions.RequestBudget);
        var result = await saga.RunAsync(order, TimeSpan.Zero, giveUpWhenStuck: false, budget.Token);
        return new(result.Status == OrderStatus.Cancelled ? CancellationOutcome.Cancelled : CancellationOutcome.Accepted, result);
    }
}
