using System.Diagnostics;
using Oms.LoadGen;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Issue 14's flash sale, exactly right under real concurrency: the three services on real Kestrel and PostgreSQL (h2c
/// between them, as in production), driven by the load generator's flash-sale scenario with the command line a sitting
/// uses. One-line and multi-line baskets race for the same hot units; the books are then checked from every database
/// on their own, not only from what the load generator saw.
/// </summary>
[Collection(nameof(FlashSaleTests))]
public sealed class FlashSaleTests(PostgresServer pg)
{
    private const long Units = 1_000;
    private const long Orders = 20_000;
    private const int Clients = 256;
    /// <summary>Plentiful SKUs the multi-line baskets' other lines are spread over.</summary>
    private const int PlentifulSkus = 64;
    private const long PlentifulStock = 1_000_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_flash_sale_of_1000_units_to_20000_orders_from_256_clients_confirms_exactly_1000_and_fails_every_other_order_with_insufficient_stock()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true);
        // Half the baskets are the hot SKU alone, half the hot SKU plus 2 plentiful SKUs. The client timeout and the settle
        // wait are far above the order service's 30-s request budget here: a slow box gives slow answers, never errors.
        var command = new LoadGenCommand();
        var parsed = command.Parse([
            "--orders-url", system.Orders.BaseAddress!.ToString(), "--inventory-url", system.Inventory.BaseAddress!.ToString(),
            "--scenario", "flash-sale", "--stock", $"{Units}", "--count", $"{Orders}", "--clients", $"{Clients}",
            "--lines", "3", "--single-line-percent", "50", "--skus", $"{PlentifulSkus}", "--stock-per-sku", $"{PlentifulStock}",
            "--timeout", "3m", "--settle", "3m"]);
        Assert.Empty(parsed.Errors);
        var log = new StringWriter();
        var clock = Stopwatch.StartNew();
        var summary = await Runner.ExecuteAsync(command.ToOptions(parsed), log, Ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Orders} orders in {clock.Elapsed.TotalSeconds:0} s{Environment.NewLine}{summary.ToText()}");

        // What the load generator saw: every order answered, exactly the units confirmed, the rest refused for stock.
        var sale = summary.FlashSale!;
        Assert.True(sale.Ok, $"{sale.ToText()}{Environment.NewLine}{log}");
        Assert.Equal(Orders, summary.OrdersTotal);
        Assert.Equal(0, summary.Errors);
        Assert.Equal(Units, sale.Confirmed);
        Assert.Equal(Orders - Units, sale.InsufficientStock);
        Assert.Equal(0, sale.HotAvailable);
        Assert.True(summary.Conservation.Ok);
        var hot = sale.HotSku;

        // The order database on its own: 20,000 orders, each with one hot unit, exactly 1,000 CONFIRMED and the rest FAILED
        // with INSUFFICIENT_STOCK; one-line and multi-line baskets both among the winners and the losers.
        Assert.Equal("CONFIRMED:-=1000,FAILED:INSUFFICIENT_STOCK=19000", await OmsSystem.ScalarAsync<string>(system.OrdersDb,
            "SELECT string_agg(s, ',' ORDER BY s) FROM (SELECT status || ':' || coalesce(failure_reason, '-') || '=' || count(*) AS s " +
            "FROM orders GROUP BY status, failure_reason) t"));
        const string hotUnits = """
            SELECT (SELECT coalesce(sum(quantity), 0) FROM orders WHERE item_sku = $1 AND status = $2)
                 + (SELECT coalesce(sum(quantity), 0) FROM order_lines WHERE item_sku = $1 AND status = $2)
            """;
        Assert.Equal(Units, await OmsSystem.ScalarAsync<long>(system.OrdersDb, hotUnits, hot, "CONFIRMED"));
        Assert.Equal(Orders - Units, await OmsSystem.ScalarAsync<long>(system.OrdersDb, hotUnits, hot, "FAILED"));
        foreach (var (status, form) in new[] { ("CONFIRMED", "IS NULL"), ("CONFIRMED", "IS NOT NULL"), ("FAILED", "IS NULL"), ("FAILED", "IS NOT NULL") })
            Assert.True(await OmsSystem.ScalarAsync<long>(system.OrdersDb, $"SELECT count(*) FROM orders WHERE status = $1 AND lines {form}", status) > 0,
                $"no {status} order with lines {form}: one-line and multi-line baskets must both take part");

        // The inventory on its own: the hot SKU's shelf empty, exactly 1,000 hot units reserved, held by exactly the
        // CONFIRMED orders; every plentiful unit gone is held by a CONFIRMED order's line (and by nothing else).
        Assert.Equal(0, await system.AvailableAsync(hot));
        Assert.Equal(Units, await OmsSystem.ScalarAsync<long>(system.InventoryDb,
            "SELECT coalesce(sum(quantity), 0) FROM reservation_items WHERE sku = $1 AND status = 'RESERVED'", hot));
        Assert.Equal(Units, await OmsSystem.ScalarAsync<long>(system.InventoryDb,
            "SELECT count(*) FROM reservation_items WHERE sku = $1 AND status = 'RESERVED'", hot));
        const string ids = "SELECT coalesce(string_agg(order_id::text, ',' ORDER BY order_id), '') FROM ";
        var confirmedIds = await OmsSystem.ScalarAsync<string>(system.OrdersDb, ids + "orders WHERE status = 'CONFIRMED'");
        Assert.Equal(confirmedIds, await OmsSystem.ScalarAsync<string>(system.InventoryDb, ids + "reservations WHERE status = 'RESERVED'"));
        Assert.Equal(confirmedIds, await OmsSystem.ScalarAsync<string>(system.PaymentsDb, ids + "payments WHERE status = 'AUTHORIZED'"));
        var plentifulConfirmed = await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM order_lines WHERE item_sku <> $1 AND status = 'CONFIRMED'", hot);
        Assert.True(plentifulConfirmed > 0);
        Assert.Equal(plentifulConfirmed, await OmsSystem.ScalarAsync<long>(system.InventoryDb,
            "SELECT coalesce(sum(quantity), 0) FROM reservation_items WHERE sku <> $1 AND status = 'RESERVED'", hot));
        // Seeded = on the shelf + held, over the plentiful SKUs (the load generator's empty out-of-stock SKU holds 0 of 0).
        Assert.Equal(PlentifulSkus * PlentifulStock, await OmsSystem.ScalarAsync<long>(system.InventoryDb,
            "SELECT sum(available) FROM items WHERE sku <> $1", hot) + plentifulConfirmed);
    }
}

/// <summary>
/// The flash sale runs alone, after the other classes: 256 clients would starve their requests on a small machine (and
/// its own figures would then say more about them than about the sale).
/// </summary>
[CollectionDefinition(nameof(FlashSaleTests), DisableParallelization = true)]
public sealed class FlashSaleCollection;
