using System.Net;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

public sealed class ConcurrencyTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;

    [Fact]
    public async Task NeverOversells()
    {
        var sku = $"O-{Guid.NewGuid():N}"[..24];
        await System.ReceiveStockAsync(sku, 50);
        var responses = await Task.WhenAll(Enumerable.Range(0, 200)
            .Select(i => System.PlaceAsync(sku, 1, 10m, $"{sku}-{i}")));
        var orders = new List<JsonObject>();
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            orders.Add(await OmsSystem.BodyAsync(response));
            response.Dispose();
        }
        Assert.Equal(50, orders.Count(o => o.Str("status") == "CONFIRMED"));
        Assert.Equal(150, orders.Count(o => o.Str("status") == "FAILED" && o.Str("failure_reason") == "INSUFFICIENT_STOCK"));
        Assert.Equal(0, await System.AvailableAsync(sku));
        Assert.Equal(50L, await OmsSystem.ScalarAsync<long>(System.InventoryDb,
            "SELECT count(*) FROM reservations WHERE sku = $1 AND status = 'RESERVED'", sku));
    }

    [Fact]
    public async Task StockIsConservedAfterAMixedConcurrentRun()
    {
        var skus = Enumerable.Range(0, 3).Select(i => $"M{i}-{Guid.NewGuid():N}"[..24]).ToArray();
        var received = new Dictionary<string, long> { [skus[0]] = 40, [skus[1]] = 15, [skus[2]] = 200 };
        foreach (var (sku, quantity) in received) await System.ReceiveStockAsync(sku, quantity);

        var random = new Random(42);
        var plan = Enumerable.Range(0, 240).Select(i =>
        {
            var sku = skus[random.Next(skus.Length)];
            var quantity = random.Next(1, 6);
            var amount = random.Next(10) == 0 ? 1500m : 20m + random.Next(0, 900);
            // Every 10th request repeats an earlier key with the same payload: a client retry.
            return (sku, quantity, amount, key: $"{sku}-{i}");
        }).ToList();
        plan.AddRange(plan.Where((_, i) => i % 10 == 0).ToList());

        var responses = await Task.WhenAll(plan.Select(p => System.PlaceAsync(p.sku, p.quantity, p.amount, p.key)));
        foreach (var response in responses)
        {
            Assert.True((int)response.StatusCode is 200 or 201 or 409, $"unexpected {(int)response.StatusCode}");
            response.Dispose();
        }

        foreach (var sku in skus)
        {
            var confirmed = await OmsSystem.ScalarAsync<long>(System.OrdersDb,
                "SELECT coalesce(sum(quantity), 0) FROM orders WHERE item_sku = $1 AND status = 'CONFIRMED'", sku);
            var pending = await OmsSystem.ScalarAsync<long>(System.OrdersDb,
                "SELECT count(*) FROM orders WHERE item_sku = $1 AND status = 'PENDING'", sku);
            var reserved = await OmsSystem.ScalarAsync<long>(System.InventoryDb,
                "SELECT coalesce(sum(quantity), 0) FROM reservations WHERE sku = $1 AND status = 'RESERVED'", sku);
            Assert.Equal(0, pending);
            Assert.Equal(received[sku], await System.AvailableAsync(sku) + confirmed);
            Assert.Equal(confirmed, reserved);
        }

        // CONFIRMED ⇔ one AUTHORIZED payment; every key has one order.
        var confirmedOrders = await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'");
        var authorized = await OmsSystem.ScalarAsync<long>(System.PaymentsDb, "SELECT count(*) FROM payments WHERE status = 'AUTHORIZED'");
        Assert.Equal(confirmedOrders, authorized);
        Assert.Equal(240L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE item_sku LIKE 'M%'"));
    }
}
