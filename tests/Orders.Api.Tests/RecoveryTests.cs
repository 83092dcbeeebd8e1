using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Leases, the give-up deadline and answers outside the contract: a run that lost its lease never leaves a live charge
/// behind, an order past its deadline still gets a real attempt, and an order nobody can finish is visible.
/// </summary>
public sealed class RecoveryTests(PostgresServer pg)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string NewSku() => $"R-{Guid.NewGuid():N}"[..24];

    private static readonly Dictionary<string, string?> FastBudget = new()
    {
        ["Saga:RequestBudget"] = "00:00:01",
        ["Saga:AttemptTimeout"] = "00:00:00.300",
        ["Recovery:AttemptBudget"] = "00:00:01",
    };

    [Fact]
    public async Task A_run_that_lost_its_lease_cannot_leave_a_failed_order_with_a_live_authorization()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyInventory: true,
            orderSettings: new Dictionary<string, string?> { ["Recovery:Enabled"] = "false" });
        var store = system.OrderServices.GetRequiredService<OrderStore>();
        var saga = system.OrderServices.GetRequiredService<OrderSaga>();
        var sku = NewSku();
        using (var put = await system.Inventory.PutAsJsonAsync($"/api/v1/stock/items/{sku}", new { quantity = 0 }, Ct)) put.EnsureSuccessStatusCode();

        // Run A inserted the order with a lease that has already run out (a slow database call, a long batch)…
        var stale = (await store.TryInsertAsync(Guid.CreateVersion7(), sku, sku, 2, 50m, Guid.NewGuid(), TimeSpan.FromMilliseconds(1)))!;
        await Eventually.UntilAsync(() => Task.FromResult(!stale.HoldsLease()), TimeSpan.FromSeconds(5), "run A's lease to run out");
        // …so the recovery worker (run B) claimed it with a fresh token.
        var claimed = Assert.Single(await store.ClaimExpiredAsync(10, TimeSpan.FromSeconds(60), Ct));
        Assert.NotEqual(stale.LeaseToken, claimed.LeaseToken);

        // Both run at once: B finds no stock and fails the order; A, without its lease, must not call anyone.
        var requestsBefore = system.InventoryProxy!.Requests;
        var runs = await Task.WhenAll(
            saga.RunAsync(stale, TimeSpan.Zero, giveUpWhenStuck: false, CancellationToken.None),
            saga.RunAsync(claimed, TimeSpan.Zero, giveUpWhenStuck: false, CancellationToken.None));
        Assert.Equal("FAILED", runs[1].Status);
        Assert.Equal("INSUFFICIENT_STOCK", runs[1].FailureReason);
        Assert.Equal(2, system.InventoryProxy.Requests - requestsBefore); // B's reserve and release; nothing from A

        // A call that A started before its lease ran out lands late, after stock arrived: every one is refused.
        using (var put = await system.Inventory.PutAsJsonAsync($"/api/v1/stock/items/{sku}", new { quantity = 10 }, Ct)) put.EnsureSuccessStatusCode();
        using var lateReserve = await system.InventoryInternal.PostAsJsonAsync("/api/v1/stock/reserve",
            new { order_id = stale.OrderId, item_sku = sku, quantity = 2 }, Ct);
        await ProblemAssert.IsProblemAsync(lateReserve, HttpStatusCode.Conflict, "reservation_released");
        using var lateAuthorize = await system.PaymentsInternal.PostAsJsonAsync("/api/v1/payments/authorize",
            new { order_id = stale.OrderId, amount = 50m }, Ct);
        await ProblemAssert.IsProblemAsync(lateAuthorize, HttpStatusCode.Conflict, "payment_voided");

        // Invariant 4: a FAILED order holds no reservation and no live authorization.
        Assert.Equal(10, await system.AvailableAsync(sku));
        Assert.Equal("VOIDED", await OmsSystem.ScalarAsync<string>(system.PaymentsDb, "SELECT status FROM payments WHERE order_id = $1", stale.OrderId));
        Assert.Equal("RELEASED", await OmsSystem.ScalarAsync<string>(system.InventoryDb, "SELECT status FROM reservations WHERE order_id = $1", stale.OrderId));
    }

    [Fact]
    public async Task Every_failure_voids_so_no_failed_order_can_be_charged_later()
    {
        await using var system = await OmsSystem.StartAsync(pg);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 1);
        using var shortOfStock = await system.PlaceAsync(sku, 5, 50m, $"{sku}-a");
        using var unknown = await system.PlaceAsync(NewSku(), 1, 50m, $"{sku}-b");
        foreach (var response in new[] { shortOfStock, unknown })
        {
            var order = await OmsSystem.BodyAsync(response);
            Assert.Equal("FAILED", order.Str("status"));
            using var late = await system.PaymentsInternal.PostAsJsonAsync("/api/v1/payments/authorize",
                new { order_id = order.Str("order_id"), amount = 50m }, Ct);
            await ProblemAssert.IsProblemAsync(late, HttpStatusCode.Conflict, "payment_voided");
        }
    }

    [Fact]
    public async Task Past_the_deadline_an_order_whose_dependencies_answer_is_confirmed_not_failed()
    {
        // One replica without a worker leaves the order PENDING with both dependencies up, as when the orders database
        // was down at confirm; then it is backdated past the give-up deadline with no dependency to blame.
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>(FastBudget)
        {
            ["Recovery:Enabled"] = "false",
            ["Recovery:GiveUpAfter"] = "00:00:05",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.ServiceUnavailable;
        using var placed = await system.PlaceAsync(sku, 3, 50m, sku);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");
        system.PaymentProxy.Mode = FaultMode.Forward;
        await OmsSystem.ScalarAsync<int>(system.OrdersDb,
            "UPDATE orders SET created_at = now() - interval '1 hour', stuck_at = NULL, lease_until = now() WHERE order_id = $1::uuid", orderId);

        // The worker's replica starts cold; past the deadline an attempt that times out would count as "no answer" and
        // fail the order. Budgets as long as the test's wait: both dependencies answer, however slow the machine.
        system.StartOrdersReplica(new Dictionary<string, string?>
        {
            ["Recovery:Enabled"] = "true",
            ["Recovery:AttemptBudget"] = "00:00:20",
            ["Recovery:Lease"] = "00:02:00", // at least a whole batch of such attempts (RecoveryOptionsValidation)
            ["Saga:AttemptTimeout"] = "00:00:05",
        });
        var final = await system.WaitFinalAsync(orderId, TimeSpan.FromSeconds(60));
        Assert.Equal("CONFIRMED", final.Str("status"));
        Assert.Equal(7, await system.AvailableAsync(sku));
        // Confirmed by the recovery worker: the same timeline as a confirm in the request.
        Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed"],
            Timeline.Types(await Timeline.ReadAsync(system, orderId)));
        await Timeline.AssertNoGapsAsync(system, orderId);
    }

    [Theory]
    [InlineData(404, "not_found")]        // a wrong URL: not an unknown item
    [InlineData(401, "unauthorized")]     // the service token changed on one side
    [InlineData(400, "validation_failed")]
    [InlineData(415, "unsupported_media_type")]
    public async Task An_answer_outside_the_contract_decides_nothing_and_a_stuck_order_shows_on_metrics_and_health(int status, string code)
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyInventory: true, orderSettings: new Dictionary<string, string?>(FastBudget)
        {
            ["Recovery:GiveUpAfter"] = "00:00:01",
            ["Recovery:MaxBackoff"] = "00:00:00.500",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.InventoryProxy!.AnswerStatus = status;
        system.InventoryProxy.AnswerCode = code;
        system.InventoryProxy.Mode = FaultMode.Answer;

        using var placed = await system.PlaceAsync(sku, 3, 50m, sku);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        Assert.Equal("PENDING", order.Str("status"));
        var orderId = order.Str("order_id");

        // Past the deadline it is decided INVENTORY_UNAVAILABLE, but its release gets the same answer: it cannot finish.
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<string>(system.OrdersDb,
            "SELECT compensate_reason FROM orders WHERE order_id = $1::uuid", orderId) == "INVENTORY_UNAVAILABLE",
            TimeSpan.FromSeconds(60), "the order to be decided INVENTORY_UNAVAILABLE");
        await Eventually.UntilAsync(async () => await HealthAsync(system) == "Degraded", TimeSpan.FromSeconds(60), "/health/ready to say Degraded");
        using (var ready = await system.Orders.GetAsync("/health/ready", Ct)) Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        // The gauge is read at scrape time; the exporter may serve a scrape cached from just before the count went up.
        await Eventually.UntilAsync(async () => StuckGauge(await system.Orders.GetStringAsync("/metrics", Ct)) >= 1, TimeSpan.FromSeconds(60),
            "oms_orders_pending_past_deadline to reach 1 on /metrics");
        Assert.Equal("PENDING", (await system.WaitFinalAsync(orderId, TimeSpan.Zero)).Str("status"));

        // Once inventory answers as its contract says, compensation finishes and the report is healthy again.
        system.InventoryProxy.Mode = FaultMode.Forward;
        var final = await system.WaitFinalAsync(orderId, TimeSpan.FromSeconds(60));
        Assert.Equal("FAILED", final.Str("status"));
        Assert.Equal("INVENTORY_UNAVAILABLE", final.Str("failure_reason"));
        Assert.Equal(10, await system.AvailableAsync(sku));
        await Eventually.UntilAsync(async () => await HealthAsync(system) == "Healthy", TimeSpan.FromSeconds(60), "/health/ready to say Healthy");
    }

    [Fact]
    public async Task One_orders_failure_does_not_hold_up_the_rest_of_its_recovery_batch()
    {
        await using var system = await OmsSystem.StartAsync(pg, orderSettings: new Dictionary<string, string?>
        {
            ["Recovery:Enabled"] = "false",
        });
        var store = system.OrderServices.GetRequiredService<OrderStore>();
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 100);
        var orders = new List<OrderRow>();
        for (var i = 0; i < 6; i++)
            orders.Add((await store.TryInsertAsync(Guid.CreateVersion7(), $"{sku}-{i}", sku, 1, 10m, Guid.NewGuid(), TimeSpan.Zero))!);
        // The first order claimed cannot be confirmed: the database refuses it (as it would a bug of ours).
        await AdminAsync(system.OrdersDb, $"""
            CREATE FUNCTION refuse_confirm() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
            CREATE TRIGGER refuse_confirm BEFORE UPDATE ON orders FOR EACH ROW
            WHEN (NEW.status = 'CONFIRMED' AND NEW.order_id = '{orders[0].OrderId}') EXECUTE FUNCTION refuse_confirm();
            UPDATE orders SET lease_until = now() - interval '1 minute' WHERE order_id = '{orders[0].OrderId}';
            """);

        // One at a time, with a lease far longer than the test: an order left behind in the batch would wait for it.
        system.StartOrdersReplica(new Dictionary<string, string?>
        {
            ["Recovery:Enabled"] = "true", ["Recovery:Parallelism"] = "1", ["Recovery:BatchSize"] = "10",
            ["Recovery:AttemptBudget"] = "00:00:05", ["Recovery:Lease"] = "00:10:00",
        });
        foreach (var order in orders.Skip(1))
            Assert.Equal("CONFIRMED", (await system.WaitFinalAsync(order.OrderId.ToString(), TimeSpan.FromSeconds(60))).Str("status"));
        Assert.Equal("PENDING", (await system.WaitFinalAsync(orders[0].OrderId.ToString(), TimeSpan.Zero)).Str("status"));
    }

    [Fact]
    public async Task A_lease_shorter_than_one_recovery_batch_is_refused_at_start()
    {
        await using var system = await OmsSystem.StartAsync(pg);
        var error = Assert.ThrowsAny<Exception>(() => system.StartOrdersReplica(new Dictionary<string, string?>
        {
            ["Recovery:Lease"] = "00:00:05", ["Recovery:AttemptBudget"] = "00:00:02", ["Recovery:BatchSize"] = "32", ["Recovery:Parallelism"] = "8",
        }));
        Assert.Contains("Recovery:Lease", Flatten(error));
    }

    /// <summary>The value of oms_orders_pending_past_deadline in a Prometheus text page (its largest, if several series).</summary>
    private static double StuckGauge(string metrics) => metrics.Split('\n')
        .Where(l => l.StartsWith("oms_orders_pending_past_deadline", StringComparison.Ordinal) && !l.Contains("oldest"))
        .Select(l => (l.Contains('}') ? l[(l.IndexOf('}') + 1)..] : l[l.IndexOf(' ')..]).Trim().Split(' ')[0])
        .Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture))
        .DefaultIfEmpty(0).Max();

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " " + Flatten(e.InnerException);

    private static async Task<string> HealthAsync(OmsSystem system)
    {
        using var response = await system.Orders.GetAsync("/health/ready", Ct);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private async Task AdminAsync(string databaseConnectionString, string sql)
    {
        var admin = new NpgsqlConnectionStringBuilder(pg.AdminConnectionString)
        {
            Database = new NpgsqlConnectionStringBuilder(databaseConnectionString).Database,
        };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
