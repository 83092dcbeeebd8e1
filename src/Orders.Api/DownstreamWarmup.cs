using Oms.ServiceDefaults;

namespace Orders.Api;

/// <summary>
/// The warm-up's calls to inventory and payments through the saga's own clients (h2c, the resilience pipeline): they
/// open the HTTP/2 connections before the first order needs them and run the saga's request paths. Each writes nothing:
/// a reserve of an item that exists nowhere (inventory answers unknown_item after its reserve transaction), an
/// authorize of a negative amount (refused by validation), a read of an id that exists nowhere.
/// </summary>
internal sealed class DownstreamWarmup(InventoryClient inventory, PaymentClient payment, IHttpClientFactory clients) : IWarmupStep
{
    public async Task RunAsync(CancellationToken ct)
    {
        var id = Guid.NewGuid();
        var reason = await inventory.ReserveAsync(id, [new OrderLine($"warmup-{id}", 1)], ct);
        if (reason != FailureReason.UnknownItem)
            throw new InvalidOperationException($"a reserve of an item that exists nowhere answered {reason ?? "reserved"}");
        try
        {
            await payment.AuthorizeAsync(id, -1m, ct);
            throw new InvalidOperationException("an authorize of a negative amount was accepted");
        }
        catch (DependencyUnavailableException e) when (e.Unexpected) { /* the 400 it is meant to get */ }
        using var read = await clients.CreateClient(PaymentClient.Name).GetAsync($"/api/v1/payments/{id}", ct);
    }
}
