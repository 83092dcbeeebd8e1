using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>Orders of several lines (DESIGN.md, Order API): the forms, the items on every order, replays, the list filter.</summary>
public sealed class MultiLineTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string NewSku() => $"M-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task A_one_line_order_lists_its_line_in_items()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 5);
        using var placed = await System.PlaceAsync(sku, 3, 10m, sku);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal(sku, order.Str("item_sku"));
        Assert.Equal(3, order["quantity"]!.GetValue<int>());
        var item = Assert.Single(order["items"]!.AsArray())!.AsObject();
        Assert.Equal(sku, item.Str("item_sku"));
        Assert.Equal(3, item["quantity"]!.GetValue<int>());
        var listed = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders?item_sku={sku}", Ct))!["items"]![0]!;
        Assert.Equal(order["items"]!.ToJsonString(), listed["items"]!.ToJsonString());
    }
}
