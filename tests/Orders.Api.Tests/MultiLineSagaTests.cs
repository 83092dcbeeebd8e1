using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// The saga with multi-line orders against the real inventory: every line reserved in one call or none, every outcome
/// leaving each SKU as invariant 1 says, and a cancel giving every line back.
/// </summary>
public sealed class MultiLineSagaTests(PostgresServer pg, SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static string NewSku() => $"L-{Guid.NewGuid():N}"[..24];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_multi_line_order_takes_every_line_in_one_reservation_and_a_cancel_gives_every_line_back()
    {
        var (a, b, c) = (NewSku(), NewSku(), NewSku());
        foreach (var sku in new[] { a, b, c }) await System.ReceiveStockAsync(sku, 10);
        using var placed = await MultiLineTests.PlaceLinesAsync(System, [(a, 1), (b, 2), (c, 3)], 60m, a);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal("CONFIRMED", order.Str("status"));
        var orderId = order.Str("order_id");
        Assert.Equal(new long[] { 9L, 8L, 7L }, new[] { await System.AvailableAsync(a), await System.AvailableAsync(b), await System.AvailableAsync(c) });
        // Invariant 4: one reservation holding all its lines, one authorized payment.
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(System.InventoryDb, "SELECT count(*) FROM reservations WHERE order_id = $1::uuid", orderId));
        Assert.Equal(6L, await OmsSystem.ScalarAsync<long>(System.InventoryDb,
            "SELECT sum(quantity) FROM reservation_items WHERE order_id = $1::uuid AND status = 'RESERVED'", orderId));
        Assert.Equal("AUTHORIZED", await OmsSystem.ScalarAsync<string>(System.PaymentsDb, "SELECT status FROM payments WHERE order_id = $1::uuid", orderId));
        Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed"],
            Timeline.Types(await Timeline.ReadAsync(System, orderId)));

        using var cancelled = await CancellationTests.CancelAsync(System, orderId, null);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(cancelled)).Str("status"));
        await CancellationTests.AssertHoldsNothingAsync(System, orderId, a, available: 10);
        Assert.Equal(new long[] { 10L, 10L }, new[] { await System.AvailableAsync(b), await System.AvailableAsync(c) });

        // Its lines moved with it: a list of one status by any of its SKUs finds it under CANCELLED only.
        foreach (var (status, found) in new[] { ("CANCELLED", true), ("CONFIRMED", false), ("PENDING", false) })
        {
            var listed = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders?item_sku={b}&status={status}", Ct))!["items"]!.AsArray();
            Assert.Equal(found, listed.Any(o => o!["order_id"]!.GetValue<string>() == orderId));
        }
        Assert.Equal("CANCELLED", await OmsSystem.ScalarAsync<string>(System.OrdersDb,
            "SELECT string_agg(DISTINCT status, ',') FROM order_lines WHERE order_id = $1::uuid", orderId));
    }

    [Theory]
    [InlineData("INSUFFICIENT_STOCK")]
    [InlineData("UNKNOWN_ITEM")]
    [InlineData("PAYMENT_DECLINED")]
    public async Task A_multi_line_order_that_fails_holds_nothing_on_any_line(string reason)
    {
        var (a, b, c) = (NewSku(), NewSku(), NewSku());
        await System.ReceiveStockAsync(a, 10);
        await System.ReceiveStockAsync(b, 10);
        if (reason != "UNKNOWN_ITEM") await System.ReceiveStockAsync(c, 2);
        using var placed = await MultiLineTests.PlaceLinesAsync(System,
            [(a, 4), (b, 5), (c, reason == "INSUFFICIENT_STOCK" ? 3 : 1)], reason == "PAYMENT_DECLINED" ? 1000m : 10m, a);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal("FAILED", order.Str("status"));
        Assert.Equal(reason, order.Str("failure_reason"));
        Assert.Equal(new long[] { 10L, 10L }, new[] { await System.AvailableAsync(a), await System.AvailableAsync(b) });
        if (reason != "UNKNOWN_ITEM") Assert.Equal(2, await System.AvailableAsync(c));
        Assert.Equal(0L, await OmsSystem.ScalarAsync<long>(System.InventoryDb,
            "SELECT count(*) FROM reservation_items WHERE order_id = $1::uuid AND status = 'RESERVED'", order.Str("order_id")));
        Assert.Equal(["order.created", "order.failed"], Timeline.Types(await Timeline.ReadAsync(System, order.Str("order_id"))));
    }

    [Fact]
    public async Task Fifty_lines_is_an_order()
    {
        var skus = Enumerable.Range(0, 50).Select(_ => NewSku()).ToArray();
        foreach (var sku in skus) await System.ReceiveStockAsync(sku, 2);
        using var placed = await MultiLineTests.PlaceLinesAsync(System, [.. skus.Select(s => (s, 2))], 500m, skus[0]);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal("CONFIRMED", order.Str("status"));
        Assert.Equal(100, order["quantity"]!.GetValue<int>());
        Assert.Equal(skus, MultiLineTests.Lines(order).Select(l => l.Item1));
        foreach (var sku in skus) Assert.Equal(0, await System.AvailableAsync(sku));
    }

    [Fact]
    public async Task A_multi_line_order_cancelled_while_held_at_payment_gives_every_line_back()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true);
        var (a, b) = (NewSku(), NewSku());
        await system.ReceiveStockAsync(a, 5);
        await system.ReceiveStockAsync(b, 5);
        system.PaymentProxy!.Mode = FaultMode.Hold;
        var placing = MultiLineTests.PlaceLinesAsync(system, [(a, 2), (b, 5)], 10m, a);
        await Eventually.UntilAsync(() => Task.FromResult(system.PaymentProxy.InFlight == 1), TimeSpan.FromSeconds(30), "the authorize to be held");
        Assert.Equal(new long[] { 3L, 0L }, new[] { await system.AvailableAsync(a), await system.AvailableAsync(b) });
        var orderId = await OmsSystem.ScalarAsync<Guid>(system.OrdersDb, "SELECT order_id FROM orders WHERE idempotency_key = $1", a);

        using (var cancel = await CancellationTests.CancelAsync(system, orderId.ToString(), null))
            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        system.PaymentProxy.Mode = FaultMode.Forward;
        system.PaymentProxy.Release();
        using var placed = await placing;
        Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(placed)).Str("status"));
        await CancellationTests.AssertHoldsNothingAsync(system, orderId.ToString(), a, available: 5);
        Assert.Equal(5, await system.AvailableAsync(b));
    }

    [Fact]
    public async Task Baskets_competing_for_the_last_units_keep_every_sku_conserved()
    {
        // Six SKUs of 5 units; 24 baskets of three overlapping lines each ask for far more than there is.
        var skus = Enumerable.Range(0, 6).Select(_ => NewSku()).ToArray();
        foreach (var sku in skus) await System.ReceiveStockAsync(sku, 5);
        var baskets = Enumerable.Range(0, 24).Select(i =>
            MultiLineTests.PlaceLinesAsync(System, [(skus[i % 6], 1 + i % 2), (skus[(i + 1) % 6], 1), (skus[(i + 3) % 6], 2)], 10m, $"{skus[0]}-{i}"));
        var answers = await Task.WhenAll(baskets);
        var orders = new List<JsonObject>();
        foreach (var answer in answers)
        {
            using (answer)
            {
                Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
                orders.Add(await OmsSystem.BodyAsync(answer));
            }
        }
        Assert.All(orders, o => Assert.True(o.Str("status") == "CONFIRMED" || o.Str("failure_reason") == "INSUFFICIENT_STOCK", o.ToJsonString()));
        Assert.Contains(orders, o => o.Str("status") == "CONFIRMED");

        // Invariant 1, all orders final: received = available + the SKU's lines in CONFIRMED orders.
        foreach (var sku in skus)
        {
            var confirmed = orders.Where(o => o.Str("status") == "CONFIRMED")
                .SelectMany(MultiLineTests.Lines).Where(l => l.Item1 == sku).Sum(l => l.Item2);
            Assert.Equal(5, await System.AvailableAsync(sku) + confirmed);
            Assert.Equal(confirmed, await OmsSystem.ScalarAsync<long>(System.InventoryDb,
                "SELECT coalesce(sum(quantity), 0) FROM reservation_items WHERE sku = $1 AND status = 'RESERVED'", sku));
        }
    }
}
