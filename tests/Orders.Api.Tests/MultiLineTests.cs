using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>Orders of several lines (DESIGN.md, Order API): the forms, the items on every order, replays, the list filter.</summary>
public sealed class MultiLineTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string NewSku() => $"M-{Guid.NewGuid():N}"[..24];

    public static TheoryData<string, string> InvalidBodies()
    {
        string Lines(int n) => string.Join(",", Enumerable.Range(0, n).Select(i => $$"""{"item_sku":"S{{i}}","quantity":1}"""));
        return new()
        {
            { """{"item_sku":"A","quantity":1,"items":[{"item_sku":"B","quantity":1}],"amount":10,"idempotency_key":"k"}""", "items" },
            { """{"item_sku":"A","items":[{"item_sku":"B","quantity":1}],"amount":10,"idempotency_key":"k"}""", "items" },
            { """{"quantity":1,"items":[{"item_sku":"B","quantity":1}],"amount":10,"idempotency_key":"k"}""", "items" },
            { """{"items":[],"amount":10,"idempotency_key":"k"}""", "items" },
            { $$"""{"items":[{{Lines(51)}}],"amount":10,"idempotency_key":"k"}""", "items" },
            { """{"items":{"item_sku":"A","quantity":1},"amount":10,"idempotency_key":"k"}""", "items" },
            { """{"items":"A","amount":10,"idempotency_key":"k"}""", "items" },
            { """{"items":[{"item_sku":"A","quantity":1},{"item_sku":"A","quantity":2}],"amount":10,"idempotency_key":"k"}""", "items[1].item_sku" },
            { """{"items":[{"item_sku":"A","quantity":1},null],"amount":10,"idempotency_key":"k"}""", "items[1]" },
            { """{"items":[{"item_sku":"A","quantity":1},7],"amount":10,"idempotency_key":"k"}""", "items[1]" },
            { """{"items":[{"item_sku":"bad sku","quantity":1}],"amount":10,"idempotency_key":"k"}""", "items[0].item_sku" },
            { """{"items":[{"quantity":1}],"amount":10,"idempotency_key":"k"}""", "items[0].item_sku" },
            { """{"items":[{"item_sku":"A","quantity":0}],"amount":10,"idempotency_key":"k"}""", "items[0].quantity" },
            { """{"items":[{"item_sku":"A","quantity":1000001}],"amount":10,"idempotency_key":"k"}""", "items[0].quantity" },
            { """{"items":[{"item_sku":"A","quantity":"2"}],"amount":10,"idempotency_key":"k"}""", "items[0].quantity" },
            { """{"items":[{"item_sku":"A","quantity":1.5}],"amount":10,"idempotency_key":"k"}""", "items[0].quantity" },
            { """{"items":[{"item_sku":"A"}],"amount":10,"idempotency_key":"k"}""", "items[0].quantity" },
            { """{"items":[{"item_sku":"A","quantity":1}],"amount":1.234,"idempotency_key":"k"}""", "amount" },
            { """{"items":[{"item_sku":"A","quantity":1}],"amount":10}""", "idempotency_key" },
            { """{"amount":10,"idempotency_key":"k"}""", "item_sku" },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task A_bad_order_form_is_a_400_naming_the_field_and_writes_nothing(string body, string field)
    {
        var key = $"bad-{Guid.NewGuid():N}";
        body = body.Replace("\"idempotency_key\":\"k\"", $"\"idempotency_key\":\"{key}\"");
        using var response = await System.Orders.PostAsync("/api/v1/orders", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors name {field}: {problem}");
        Assert.Equal(0L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE idempotency_key = $1", key));
    }

    [Fact]
    public async Task A_multi_line_order_answers_its_lines_in_request_order_and_its_total_units()
    {
        var (a, b, c) = (NewSku(), NewSku(), NewSku());
        using var placed = await PlaceLinesAsync(System, [(c, 1), (a, 4), (b, 2)], 30m, a);
        Assert.True(placed.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted, $"{(int)placed.StatusCode}");
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Null(order["item_sku"]?.GetValue<string>());
        Assert.Equal(7, order["quantity"]!.GetValue<int>());
        Assert.Equal([(c, 1), (a, 4), (b, 2)], Lines(order));
        var orderId = order.Str("order_id");

        var fetched = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}", Ct))!;
        Assert.Equal([(c, 1), (a, 4), (b, 2)], Lines(fetched));
        // The list filter matches any line of an order.
        foreach (var sku in new[] { a, b, c })
        {
            var listed = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders?item_sku={sku}", Ct))!["items"]!.AsArray();
            Assert.Equal([orderId], listed.Select(o => o!["order_id"]!.GetValue<string>()));
        }
        var created = (await Timeline.ReadAsync(System, orderId))[0];
        Assert.Equal("order.created", created.Str("type"));
        Assert.Equal([(c, 1), (a, 4), (b, 2)], Lines(created["data"]!.AsObject()));
    }

    [Fact]
    public async Task A_replay_compares_lines_as_a_set_and_the_one_line_form_equals_one_line_items()
    {
        var (a, b) = (NewSku(), NewSku());
        using var first = await PlaceLinesAsync(System, [(a, 2), (b, 3)], 20m, a);
        var orderId = (await OmsSystem.BodyAsync(first)).Str("order_id");

        // The same lines in another order, and 20 as 20.00: the same order.
        using (var replay = await PlaceLinesAsync(System, [(b, 3), (a, 2)], 20.00m, a))
        {
            Assert.True(replay.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted, $"{(int)replay.StatusCode}");
            Assert.Equal(orderId, (await OmsSystem.BodyAsync(replay)).Str("order_id"));
        }
        // Another quantity, a line more or less, another amount: another payload.
        foreach (var (lines, amount) in new (string, int)[][] { [(a, 2), (b, 4)], [(a, 2)], [(a, 2), (b, 3), (NewSku(), 1)], [(a, 2), (b, 3)] }
                     .Zip([20m, 20m, 20m, 21m]))
        {
            using var reused = await PlaceLinesAsync(System, lines, amount, a);
            await ProblemAssert.IsProblemAsync(reused, HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        }
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE idempotency_key = $1", a));

        // One line: either form places the same order.
        await System.ReceiveStockAsync(b, 10);
        using var oneLine = await PlaceLinesAsync(System, [(b, 1)], 10m, b);
        Assert.Equal(HttpStatusCode.Created, oneLine.StatusCode);
        var order = await OmsSystem.BodyAsync(oneLine);
        Assert.Equal(b, order.Str("item_sku"));
        using var seedForm = await System.PlaceAsync(b, 1, 10m, b);
        Assert.Equal(HttpStatusCode.OK, seedForm.StatusCode);
        Assert.Equal(order.Str("order_id"), (await OmsSystem.BodyAsync(seedForm)).Str("order_id"));
        Assert.Equal(9, await System.AvailableAsync(b));
    }

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

    internal static Task<HttpResponseMessage> PlaceLinesAsync(OmsSystem system, (string Sku, int Quantity)[] lines, decimal amount, string key) =>
        system.Orders.PostAsJsonAsync("/api/v1/orders",
            new { items = lines.Select(l => new { item_sku = l.Sku, quantity = l.Quantity }), amount, idempotency_key = key }, Ct);

    internal static (string, int)[] Lines(JsonObject order) =>
        [.. order["items"]!.AsArray().Select(l => (l!["item_sku"]!.GetValue<string>(), l["quantity"]!.GetValue<int>()))];
}
