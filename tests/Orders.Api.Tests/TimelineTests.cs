using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>GET /api/v1/orders/{id}/events: one event per transition, sequence 1, 2, 3… without gaps, paged like every list.</summary>
public sealed class TimelineTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string NewSku() => $"T-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task A_confirmed_order_has_created_stock_reserved_payment_authorized_confirmed()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 5);
        using var placed = await System.PlaceAsync(sku, 2, 12.5m, sku);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal("CONFIRMED", order.Str("status"));

        var events = await Timeline.ReadAsync(System, order.Str("order_id"), pageSize: 3);
        Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed"], Timeline.Types(events));
        var created = events[0]["data"]!.AsObject();
        Assert.Equal(sku, created["items"]![0]!["item_sku"]!.GetValue<string>());
        Assert.Equal(2, created["items"]![0]!["quantity"]!.GetValue<int>());
        Assert.Equal(12.5m, created["amount"]!.GetValue<decimal>());
        Assert.Equal(12.5m, events[2]["data"]!["amount"]!.GetValue<decimal>());
        Assert.All(events, e => Assert.Equal(order.Str("order_id"), e.Str("order_id")));
        Assert.Equal(4, events.Select(e => e.Str("event_id")).Distinct().Count());
        Assert.All(events, e => Assert.EndsWith("Z", e.Str("occurred_at")));
        await Timeline.AssertNoGapsAsync(System, order.Str("order_id"));

        // A replay is not a transition: nothing is added.
        using (var replay = await System.PlaceAsync(sku, 2, 12.5m, sku)) Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal(4, (await Timeline.ReadAsync(System, order.Str("order_id"))).Count);
    }

    [Theory]
    [InlineData("PAYMENT_DECLINED")]
    [InlineData("INSUFFICIENT_STOCK")]
    [InlineData("UNKNOWN_ITEM")]
    public async Task A_failed_order_has_created_then_failed_with_its_reason(string reason)
    {
        var sku = NewSku();
        if (reason != "UNKNOWN_ITEM") await System.ReceiveStockAsync(sku, 1);
        using var placed = await System.PlaceAsync(sku, reason == "INSUFFICIENT_STOCK" ? 2 : 1, reason == "PAYMENT_DECLINED" ? 1500m : 10m, sku);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal(reason, order.Str("failure_reason"));

        var events = await Timeline.ReadAsync(System, order.Str("order_id"));
        Assert.Equal(["order.created", "order.failed"], Timeline.Types(events));
        Assert.Equal(reason, events[1]["data"]!["failure_reason"]!.GetValue<string>());
        await Timeline.AssertNoGapsAsync(System, order.Str("order_id"));
    }

    [Fact]
    public async Task The_timeline_pages_like_every_list_and_refuses_bad_values()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 5);
        using var placed = await System.PlaceAsync(sku, 1, 10m, sku);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");

        var first = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}/events?limit=4", Ct))!;
        Assert.Equal(4, first["items"]!.AsArray().Count);
        Assert.Null(first["next"]?.GetValue<string>());
        var byTwo = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}/events?limit=2", Ct))!;
        var next = byTwo["next"]!.GetValue<string>();
        var second = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}/events?limit=2&after={next}", Ct))!;
        Assert.Equal([3, 4], second["items"]!.AsArray().Select(e => e!["sequence"]!.GetValue<int>()));
        Assert.Equal(4, (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}/events", Ct))!["items"]!.AsArray().Count);
        // Past the end: an empty page of an order that exists.
        var past = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}/events?after=4", Ct))!;
        Assert.Empty(past["items"]!.AsArray());

        foreach (var query in new[] { "limit=0", "limit=501", "limit=x", "after=0", "after=-1", "after=abc", "after=1.5" })
        {
            using var bad = await System.Orders.GetAsync($"/api/v1/orders/{orderId}/events?{query}", Ct);
            await ProblemAssert.IsProblemAsync(bad, HttpStatusCode.BadRequest, "validation_failed");
        }
        using (var notUuid = await System.Orders.GetAsync("/api/v1/orders/nope/events", Ct))
            await ProblemAssert.IsProblemAsync(notUuid, HttpStatusCode.BadRequest, "validation_failed");
        foreach (var query in new[] { "", "?after=2" })
        {
            using var unknown = await System.Orders.GetAsync($"/api/v1/orders/{Guid.NewGuid()}/events{query}", Ct);
            await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound, "not_found");
        }
    }
}

/// <summary>Reading and checking an order's timeline.</summary>
internal static class Timeline
{
    /// <summary>Every event of the order, oldest first, read page by page through the API.</summary>
    public static async Task<List<JsonObject>> ReadAsync(OmsSystem system, string orderId, int pageSize = 2)
    {
        var events = new List<JsonObject>();
        string? next = null;
        do
        {
            var page = (await system.Orders.GetFromJsonAsync<JsonObject>(
                $"/api/v1/orders/{orderId}/events?limit={pageSize}" + (next is null ? "" : $"&after={next}")))!;
            var items = page["items"]!.AsArray();
            Assert.True(items.Count <= pageSize);
            events.AddRange(items.Select(e => e!.AsObject()));
            next = page["next"]?.GetValue<string>();
        } while (next is not null);
        Assert.Equal(Enumerable.Range(1, events.Count), events.Select(e => e["sequence"]!.GetValue<int>()));
        return events;
    }

    public static string[] Types(IEnumerable<JsonObject> events) => [.. events.Select(e => e.Str("type"))];

    /// <summary>In the database: sequence 1..n without gaps, n = the order's last_sequence.</summary>
    public static async Task AssertNoGapsAsync(OmsSystem system, string orderId)
    {
        var last = await OmsSystem.ScalarAsync<int>(system.OrdersDb, "SELECT last_sequence FROM orders WHERE order_id = $1::uuid", orderId);
        Assert.True(await OmsSystem.ScalarAsync<bool>(system.OrdersDb,
            "SELECT count(*) = $2 AND min(sequence) = 1 AND max(sequence) = $2 FROM order_events WHERE order_id = $1::uuid", orderId, last));
    }
}
