using Oms.ServiceDefaults;

namespace Orders.Api;

/// <summary>
/// The warm-up's calls to inventory and payments through the saga's own clients (h2c, the resilience pipeline):
/// they open the HTTP/2 connections before the first order needs them. Reads of ids that exist nowhere: a 404 that
/// writes nothing and that the pipeline does not count as a failure.
/// </summary>
internal sealed class DownstreamWarmup(IHttpClientFactory clients) : IWarmupStep
{
    public async Task RunAsync(CancellationToken ct)
    {
        using var inventory = await clients.CreateClient(InventoryClient.Name).GetAsync($"/api/v1/stock/warmup-{Guid.NewGuid()}", ct);
        using var payment = await clients.CreateClient(PaymentClient.Name).GetAsync($"/api/v1/payments/{Guid.NewGuid()}", ct);
    }
}
