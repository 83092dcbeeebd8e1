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

/// <summary>
/// The one owner of placing an order: insert-or-replay, the request's lease and budget, and the saga run. The handler
/// only binds the request and turns the outcome into an HTTP answer.
/// </summary>
public sealed class OrderPlacement(OrderStore store, OrderSaga saga, IOptions<SagaOptions> options)
{
    /// <param name="request">The order form, its idempotency key settled (from the body or the header).</param>
    public async Task<Placement> PlaceAsync(CreateOrderRequest request, string apiKeyName)
    {
        var sagaOptions = options.Value;
        var inserted = await store.TryInsertAsync(Guid.CreateVersion7(), request.IdempotencyKey!, request.ItemSku,
            request.Quantity, request.Amount, Guid.NewGuid(), sagaOptions.RequestLease, apiKeyName);
        if (inserted is null) return await ReplayAsync(request, apiKeyName);

        // The saga is not cancelled when the client goes away: finishing the order is cheaper than recovering it.
        using var budget = new CancellationTokenSource(sagaOptions.RequestBudget);
        var order = await saga.RunAsync(inserted, TimeSpan.Zero, giveUpWhenStuck: false, budget.Token);
        return new(order.Status == OrderStatus.Pending ? PlacementOutcome.Pending : PlacementOutcome.Created, order);
    }

    /// <summary>The key lost the insert race or was used before: answer from the stored order.</summary>
    private async Task<Placement> ReplayAsync(CreateOrderRequest request, string apiKeyName)
    {
        var existing = await store.GetByKeyAsync(apiKeyName, request.IdempotencyKey!, CancellationToken.None)
            ?? throw new InvalidOperationException("An order with this idempotency key conflicted but cannot be read.");

        if (existing.ItemSku != request.ItemSku || existing.Quantity != request.Quantity || existing.Amount != request.Amount)
            return new(PlacementOutcome.KeyReused, existing);
        if (existing.Status != OrderStatus.Pending) return new(PlacementOutcome.Replayed, existing);
        return new(existing.InRequest && existing.LeaseLive ? PlacementOutcome.InProgress : PlacementOutcome.Pending, existing);
    }
}
