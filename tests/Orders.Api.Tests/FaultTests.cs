using System.Net;
using System.Net.Http.Json;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// What happens when a dependency is slow, down or loses answers: orders stay PENDING (202), the
/// recovery worker finishes them, nothing is charged twice and no stock leaks.
/// </summary>
public sealed class FaultTests(PostgresServer pg)
{
    private static readonly Dictionary<string, string?> FastBudget = new()
    {
        ["Saga:RequestBudget"] = "00:00:01",
        ["Saga:AttemptTimeout"] = "00:00:00.300",
    };

    private static string NewSku() => $"F-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task PaymentDownGives202ThenRecoveryConfirmsOnceItIsBack()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: FastBudget);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.ServiceUnavailable;

        using var first = await system.PlaceAsync(sku, 2, 50m, sku);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var pending = await OmsSystem.BodyAsync(first);
        Assert.Equal("PENDING", pending.Str("status"));
        Assert.Equal($"/api/v1/orders/{pending.Str("order_id")}", first.Headers.Location!.OriginalString);

        // The first request has answered: a replay now sees the order as it stands.
        using var replay = await system.PlaceAsync(sku, 2, 50m, sku);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal(pending.Str("order_id"), (await OmsSystem.BodyAsync(replay)).Str("order_id"));

        system.PaymentProxy.Mode = FaultMode.Forward;
        var final = await system.WaitFinalAsync(pending.Str("order_id"), TimeSpan.FromSeconds(60));
        Assert.Equal("CONFIRMED", final.Str("status"));
        Assert.Equal(8, await system.AvailableAsync(sku));

        using var after = await system.PlaceAsync(sku, 2, 50m, sku);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(system.PaymentsDb, "SELECT count(*) FROM payments WHERE status = 'AUTHORIZED'"));
    }

    [Fact]
    public async Task PaymentTimesOutAfterAuthorizingAndTheRetryGetsTheStoredResult()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>
        {
            ["Saga:RequestBudget"] = "00:00:20",
            ["Saga:AttemptTimeout"] = "00:00:01",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 5);
        // The first authorize reaches the payment service and is done there, but its answer arrives too late.
        system.PaymentProxy!.Delay = TimeSpan.FromSeconds(4);
        system.PaymentProxy.FaultNext(FaultMode.ForwardThenDelay, 1);

        using var response = await system.PlaceAsync(sku, 1, 10m, sku);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var order = await OmsSystem.BodyAsync(response);
        Assert.Equal("CONFIRMED", order.Str("status"));
        Assert.True(system.PaymentProxy.Requests >= 2, "the authorize should have been retried");
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(system.PaymentsDb, "SELECT count(*) FROM payments"));
        Assert.Equal(4, await system.AvailableAsync(sku));
    }

    [Fact]
    public async Task LostAnswersFromInventoryAreRetriedWithoutTakingStockTwice()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyInventory: true);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 5);
        // The reserve is done by the inventory service, but the answer is lost twice (503 on the way back).
        system.InventoryProxy!.FaultNext(FaultMode.ForwardThenFail, 2);

        using var response = await system.PlaceAsync(sku, 2, 10m, sku);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("CONFIRMED", (await OmsSystem.BodyAsync(response)).Str("status"));
        Assert.Equal(3, await system.AvailableAsync(sku));
    }

    [Fact]
    public async Task PastTheGiveUpDeadlineTheOrderFailsAndEverythingIsGivenBack()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>(FastBudget)
        {
            ["Recovery:GiveUpAfter"] = "00:00:02",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.ServiceUnavailable;

        using var first = await system.PlaceAsync(sku, 3, 50m, sku);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var orderId = (await OmsSystem.BodyAsync(first)).Str("order_id");
        Assert.Equal(7, await system.AvailableAsync(sku));

        // Past the deadline an attempt that payment does not answer decides the failure; compensation (void) then
        // needs payment too, and finishes once it is reachable again.
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<string>(system.OrdersDb,
            "SELECT compensate_reason FROM orders WHERE order_id = $1::uuid", orderId) == "PAYMENT_UNAVAILABLE",
            TimeSpan.FromSeconds(60), "the order to be decided PAYMENT_UNAVAILABLE");
        system.PaymentProxy.Mode = FaultMode.Forward;
        var final = await system.WaitFinalAsync(orderId, TimeSpan.FromSeconds(60));
        Assert.Equal("FAILED", final.Str("status"));
        Assert.Equal("PAYMENT_UNAVAILABLE", final.Str("failure_reason"));
        Assert.Equal(10, await system.AvailableAsync(sku));
        await AssertFailedTimelineAsync(system, orderId, "PAYMENT_UNAVAILABLE");
        Assert.Equal("VOIDED", await OmsSystem.ScalarAsync<string>(system.PaymentsDb, "SELECT status FROM payments WHERE order_id = $1::uuid", orderId));

        // A late authorize for the given-up order is refused by the tombstone.
        using var late = await system.PaymentsInternal.PostAsJsonAsync("/api/v1/payments/authorize",
            new { order_id = orderId, amount = 50m }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
    }

    [Fact]
    public async Task InventoryAnsweringAfterTheOrderGaveUpCannotLeakStock()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyInventory: true, orderSettings: new Dictionary<string, string?>(FastBudget)
        {
            ["Recovery:GiveUpAfter"] = "00:00:01",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        // Every reserve arrives 2.5 s late, long after the request's 1 s budget, each attempt's timeout and the give-up deadline.
        system.InventoryProxy!.Delay = TimeSpan.FromSeconds(2.5);
        system.InventoryProxy.Mode = FaultMode.Delay;

        using var first = await system.PlaceAsync(sku, 4, 50m, sku);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var orderId = (await OmsSystem.BodyAsync(first)).Str("order_id");

        // Decided once an attempt past the deadline got no answer; its release goes through once inventory is prompt again.
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<string>(system.OrdersDb,
            "SELECT compensate_reason FROM orders WHERE order_id = $1::uuid", orderId) == "INVENTORY_UNAVAILABLE",
            TimeSpan.FromSeconds(60), "the order to be decided INVENTORY_UNAVAILABLE");
        system.InventoryProxy.Mode = FaultMode.Forward;
        var final = await system.WaitFinalAsync(orderId, TimeSpan.FromSeconds(60));
        Assert.Equal("FAILED", final.Str("status"));
        Assert.Equal("INVENTORY_UNAVAILABLE", final.Str("failure_reason"));
        await AssertFailedTimelineAsync(system, orderId, "INVENTORY_UNAVAILABLE");
        // Every delayed reserve has landed (after the release's tombstone): nothing is held for the failed order.
        await Eventually.UntilAsync(() => Task.FromResult(system.InventoryProxy.InFlight == 0), TimeSpan.FromSeconds(60), "the delayed reserves to land");
        Assert.Equal(10, await system.AvailableAsync(sku));
        Assert.Equal("RELEASED", await OmsSystem.ScalarAsync<string>(system.InventoryDb, "SELECT status FROM reservations WHERE order_id = $1::uuid", orderId));
    }

    [Fact]
    public async Task ReplayWhileTheFirstRequestRunsIs409()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.Hold;

        var first = system.PlaceAsync(sku, 1, 10m, sku);
        // Wait until the first request has stored its order (it is then held up at the payment step).
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM orders WHERE idempotency_key = $1", sku) == 1, TimeSpan.FromSeconds(60), "the first request to store its order");
        using (var during = await system.PlaceAsync(sku, 1, 10m, sku))
        {
            Assert.Equal(HttpStatusCode.Conflict, during.StatusCode);
            Assert.Equal("request_in_progress", (await OmsSystem.BodyAsync(during)).Str("code"));
        }
        system.PaymentProxy.Mode = FaultMode.Forward;
        system.PaymentProxy.Release();
        using var firstResponse = await first;
        Assert.Equal(HttpStatusCode.Created, firstResponse.StatusCode);
        using var after = await system.PlaceAsync(sku, 1, 10m, sku);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task OrderLeftBetweenReserveAndAuthorizeByACrashIsFinishedByTheWorker()
    {
        await using var system = await OmsSystem.StartAsync(pg);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);

        // The state a killed order process leaves behind: PENDING row with a request lease that has
        // run out, and the stock already reserved; authorize never happened.
        var orderId = Guid.NewGuid();
        await OmsSystem.ScalarAsync<int>(system.OrdersDb,
            """
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, in_request)
            VALUES ($1, $2, $3, 3, 25.50, 'PENDING', gen_random_uuid(), now() - interval '1 second', true)
            """, orderId, $"crash-{sku}", sku);
        using (var reserve = await system.InventoryInternal.PostAsJsonAsync("/api/v1/stock/reserve",
                   new { order_id = orderId, item_sku = sku, quantity = 3 }, TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, reserve.StatusCode);

        var final = await system.WaitFinalAsync(orderId.ToString(), TimeSpan.FromSeconds(60));
        Assert.Equal("CONFIRMED", final.Str("status"));
        Assert.Equal(7, await system.AvailableAsync(sku));
        Assert.Equal("AUTHORIZED", await OmsSystem.ScalarAsync<string>(system.PaymentsDb, "SELECT status FROM payments WHERE order_id = $1", orderId));
    }

    [Fact]
    public async Task TwoReplicasReceivingTheSameKeysMakeOneOrderPerKey()
    {
        await using var system = await OmsSystem.StartAsync(pg);
        var replica = system.StartOrdersReplica();
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 1000);

        var keys = Enumerable.Range(0, 30).Select(i => $"{sku}-{i}").ToList();
        var sends = keys.SelectMany(key => new[]
        {
            system.Orders.PostAsJsonAsync("/api/v1/orders", new { item_sku = sku, quantity = 2, amount = 10m, idempotency_key = key }),
            replica.PostAsJsonAsync("/api/v1/orders", new { item_sku = sku, quantity = 2, amount = 10m, idempotency_key = key }),
        });
        var responses = await Task.WhenAll(sends);
        foreach (var response in responses)
        {
            Assert.True((int)response.StatusCode is 200 or 201 or 409, $"unexpected {(int)response.StatusCode}");
            response.Dispose();
        }

        Assert.Equal(30L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM orders WHERE item_sku = $1", sku));
        Assert.Equal(30L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM orders WHERE item_sku = $1 AND status = 'CONFIRMED'", sku));
        Assert.Equal(1000 - 60, await system.AvailableAsync(sku));
        Assert.Equal(30L, await OmsSystem.ScalarAsync<long>(system.PaymentsDb, "SELECT count(*) FROM payments"));
    }

    /// <summary>A FAILED order's timeline: created, then failed with its reason; nothing for the attempts in between.</summary>
    private static async Task AssertFailedTimelineAsync(OmsSystem system, string orderId, string reason)
    {
        var events = await Timeline.ReadAsync(system, orderId);
        Assert.Equal(["order.created", "order.failed"], Timeline.Types(events));
        Assert.Equal(reason, events[1]["data"]!["failure_reason"]!.GetValue<string>());
        await Timeline.AssertNoGapsAsync(system, orderId);
    }
}
