using System.Net;
using System.Net.Http.Json;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Several replicas of a dependency: Saga:InventoryUrl / Saga:PaymentUrl name a service whose endpoints are listed under
/// Services:&lt;name&gt;:http (Microsoft.Extensions.ServiceDiscovery). The saga's calls go round-robin over them, and an
/// attempt that fails on one replica (refused, 503) is retried on the next within the same request.
/// </summary>
public sealed class ServiceDiscoveryTests(PostgresServer pg)
{
    private static string NewSku() => $"SD-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task TheSagaSpreadsItsCallsOverEveryReplicaAndRetriesOnAnotherWhenOneFails()
    {
        await using var system = await OmsSystem.StartAsync(pg);
        // Two "replicas" of inventory (two proxies in front of the one inventory service, so each counts what it gets)
        // and two of payment, one of which is not listening at all.
        await using var inventoryA = await FaultProxy.StartAsync(system.Inventory.BaseAddress!);
        await using var inventoryB = await FaultProxy.StartAsync(system.Inventory.BaseAddress!);
        await using var paymentLive = await FaultProxy.StartAsync(system.Payments.BaseAddress!);
        var paymentDead = new Uri($"http://127.0.0.1:{PostgresServer.FreePort()}/");
        var orders = system.StartOrdersReplica(new Dictionary<string, string?>
        {
            ["Saga:InventoryUrl"] = "http://inventory/",
            ["Services:inventory:http:0"] = inventoryA.Address.ToString(),
            ["Services:inventory:http:1"] = inventoryB.Address.ToString(),
            ["Saga:PaymentUrl"] = "http://payment/",
            ["Services:payment:http:0"] = paymentDead.ToString(),
            ["Services:payment:http:1"] = paymentLive.Address.ToString(),
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 100);
        const int n = 10;

        for (var i = 0; i < n; i++)
        {
            using var response = await orders.PostAsJsonAsync("/api/v1/orders",
                new { item_sku = sku, quantity = 1, amount = 10m, idempotency_key = $"{sku}-{i}" }, TestContext.Current.CancellationToken);
            // Confirmed within the request: the authorize refused by the dead replica was retried on the live one.
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal("CONFIRMED", (await OmsSystem.BodyAsync(response)).Str("status"));
        }
        Assert.True(inventoryA.Requests > 0 && inventoryB.Requests > 0,
            $"round-robin: both inventory replicas get reserves (A {inventoryA.Requests}, B {inventoryB.Requests})");
        Assert.Equal(n, inventoryA.Requests + inventoryB.Requests);
        Assert.Equal(n, paymentLive.Requests);

        // One inventory replica now answers 503 (down behind its load balancer): every order still succeeds, on the other.
        inventoryA.Mode = FaultMode.ServiceUnavailable;
        var beforeB = inventoryB.Requests;
        for (var i = n; i < 2 * n; i++)
        {
            using var response = await orders.PostAsJsonAsync("/api/v1/orders",
                new { item_sku = sku, quantity = 1, amount = 10m, idempotency_key = $"{sku}-{i}" }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }
        Assert.Equal(n, inventoryB.Requests - beforeB);
        Assert.Equal(100 - 2 * n, await system.AvailableAsync(sku));
        Assert.Equal(2L * n, await OmsSystem.ScalarAsync<long>(system.PaymentsDb, "SELECT count(*) FROM payments WHERE status = 'AUTHORIZED'"));
    }
}
