using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

public sealed class OrderOutcomeTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;

    private static string NewSku() => $"R-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task UnknownItemFailsAndLeavesATombstoneSoALateReserveIsRefused()
    {
        var sku = NewSku();
        using var response = await System.PlaceAsync(sku, 1, 10m, sku);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var order = await OmsSystem.BodyAsync(response);
        Assert.Equal("FAILED", order.Str("status"));
        Assert.Equal("UNKNOWN_ITEM", order.Str("failure_reason"));

        // The item appears later, and a delayed reserve for the failed order arrives: it must be refused.
        await System.ReceiveStockAsync(sku, 5);
        using var late = await System.InventoryInternal.PostAsJsonAsync("/api/v1/stock/reserve",
            new { order_id = order.Str("order_id"), item_sku = sku, quantity = 1 }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("reservation_released", (await OmsSystem.BodyAsync(late)).Str("code"));
        Assert.Equal(5, await System.AvailableAsync(sku));
    }

    [Theory]
    [InlineData(999.99, "CONFIRMED", null)]
    [InlineData(1000, "FAILED", "PAYMENT_DECLINED")]
    [InlineData(0, "CONFIRMED", null)]
    public async Task AmountDecidesAuthorization(decimal amount, string status, string? reason)
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 3);
        using var response = await System.PlaceAsync(sku, 2, amount, sku);
        var order = await OmsSystem.BodyAsync(response);
        Assert.Equal(status, order.Str("status"));
        Assert.Equal(reason, order["failure_reason"]?.GetValue<string>());
        Assert.Equal(status == "CONFIRMED" ? 1 : 3, await System.AvailableAsync(sku));

        using var fetched = await System.Orders.GetAsync($"/api/v1/orders/{order.Str("order_id")}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        Assert.Equal(order.ToJsonString(), (await OmsSystem.BodyAsync(fetched)).ToJsonString());
    }

    [Fact]
    public async Task ListIsNewestFirstFilteredAndKeysetPaged()
    {
        var ct = TestContext.Current.CancellationToken;
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 100);
        var placed = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            using var response = await System.PlaceAsync(sku, 1, i == 3 ? 5000m : 10m, $"{sku}-{i}");
            placed.Add((await OmsSystem.BodyAsync(response)).Str("order_id"));
        }

        var seen = new List<string>();
        string? next = null;
        do
        {
            var page = (await System.Orders.GetFromJsonAsync<JsonObject>(
                $"/api/v1/orders?item_sku={sku}&limit=3" + (next is null ? "" : $"&after={next}"), ct))!;
            var items = page["items"]!.AsArray();
            Assert.True(items.Count <= 3);
            seen.AddRange(items.Select(o => o!["order_id"]!.GetValue<string>()));
            next = page["next"]?.GetValue<string>();
        } while (next is not null);
        Assert.Equal(Enumerable.Reverse(placed), seen);

        var failed = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders?item_sku={sku}&status=FAILED", ct))!;
        Assert.Equal([placed[3]], failed["items"]!.AsArray().Select(o => o!["order_id"]!.GetValue<string>()));
        Assert.Null(failed["next"]?.GetValue<string>());
    }
}
