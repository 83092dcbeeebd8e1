using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>How placing an order ended, as the client is answered.</summary>
public enum PlacementOutcome
{
    /// <summary>This request created the order and it reached a final state (201).</summary>
    Created,
    /// <summary>Same key, same payload, the order is final (200, Idempotent-Replayed).</summary>
    Replayed,
    /// <summary>Not final within the request budget, by this request or an earlier one that answered 202 (202).</summary>
    Pending,
    /// <summary>Same key while its first request is still running (409 request_in_progress).</summary>
    InProgress,
    /// <summary>Same key, another payload (422 idempotency_key_reused).</summary>
    KeyReused,
}

public sealed record Placement(PlacementOutcome Outcome, OrderRow Order);

/// <summary>An order as the client asked for it: its lines (distinct SKUs, request order), total amount and idempotency key.</summary>
public sealed record OrderForm(IReadOnlyList<OrderLine> Lines, decimal Amount, string IdempotencyKey)
{
    /// <summary>
    /// Whether <paramref name="order"/> was placed with this payload: the same amount (100 and 100.00 are one amount) and
    /// the same lines as a set, whichever form and order they came in.
    /// </summary>
    public bool SamePayloadAs(OrderRow order) =>
        order.Amount == Amount && order.Lines.Count == Lines.Count
        && order.Lines.OrderBy(l => l.ItemSku, StringComparer.Ordinal).SequenceEqual(Lines.OrderBy(l => l.ItemSku, StringComparer.Ordinal));
}

/// <summary>
/// The one owner of placing an order: insert-or-replay, the request's lease and budget, and the saga run. The handler
/// only binds the request and turns the outcome into an HTTP answer.
/// </summary>
public sealed class OrderPlacement(OrderStore store, OrderSaga saga, IOptions<SagaOptions> options)
{
    public async Task<Placement> PlaceAsync(OrderForm request, string apiKeyName)
    {
        var sagaOptions = options.Value;
        var inserted = await store.TryInsertAsync(Guid.CreateVersion7(), request.IdempotencyKey, request.Lines,
            request.Amount, Guid.NewGuid(), sagaOptions.RequestLease, apiKeyName);
        if (inserted is null) return await ReplayAsync(request, apiKeyName);

        // The saga is not cancelled when the client goes away: finishing the order is cheaper than recovering it.
        using var budget = new CancellationTokenSource(sagaOptions.RequestBudget);
        var order = await saga.RunAsync(inserted, TimeSpan.Zero, giveUpWhenStuck: false, budget.Token);
        return new(order.Status == OrderStatus.Pending ? PlacementOutcome.Pending : PlacementOutcome.Created, order);
    }

    /// <summary>The key lost the insert race or was used before: answer from the stored order.</summary>
    private async Task<Placement> ReplayAsync(OrderForm request, string apiKeyName)
    {
        var existing = await store.GetByKeyAsync(apiKeyName, request.IdempotencyKey, CancellationToken.None)
            ?? throw new InvalidOperationException("An order with this idempotency key conflicted but cannot be read.");

        if (!request.SamePayloadAs(existing))
            return new(PlacementOutcome.KeyReused, existing);
        if (existing.Status != OrderStatus.Pending) return new(PlacementOutcome.Replayed, existing);
        return new(existing.InRequest && existing.LeaseLive ? PlacementOutcome.InProgress : PlacementOutcome.Pending, existing);
    }
}
