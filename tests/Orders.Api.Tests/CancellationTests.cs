using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// POST /api/v1/orders/{id}/cancel (DESIGN.md, Cancellation): CONFIRMED → durable cancel, void, release, CANCELLED;
/// PENDING → ends CANCELLED instead of CONFIRMED; idempotent; FAILED → 409; finished by recovery after a crash.
/// Invariant 4 after each: a CANCELLED order holds no reservation and no live authorization.
/// </summary>
public sealed class CancellationTests(PostgresServer pg, SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static string NewSku() => $"C-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task Cancelling_a_confirmed_order_voids_releases_and_answers_the_cancelled_order_once_and_for_all()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 10);
        using var placed = await System.PlaceAsync(sku, 4, 25m, sku);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");
        Assert.Equal(6, await System.AvailableAsync(sku));

        using var cancelled = await CancelAsync(System, orderId, """{"reason":"changed my mind"}""");
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        var order = await OmsSystem.BodyAsync(cancelled);
        Assert.Equal("CANCELLED", order.Str("status"));
        Assert.Null(order["failure_reason"]?.GetValue<string>());
        await AssertHoldsNothingAsync(System, orderId, sku, available: 10);

        var events = await Timeline.ReadAsync(System, orderId);
        Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed",
            "order.cancel_requested", "order.cancelled"], Timeline.Types(events));
        Assert.Equal("changed my mind", events[4]["data"]!["reason"]!.GetValue<string>());
        await Timeline.AssertNoGapsAsync(System, orderId);

        // Again, with no body and with {}: the same order, nothing changes.
        foreach (var body in new string?[] { null, "{}" })
        {
            using var again = await CancelAsync(System, orderId, body);
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Equal(order.ToJsonString(), (await OmsSystem.BodyAsync(again)).ToJsonString());
        }
        Assert.Equal(6, (await Timeline.ReadAsync(System, orderId)).Count);
        await AssertHoldsNothingAsync(System, orderId, sku, available: 10);

        // The list of CANCELLED orders has it; a replay of its key answers it as it is.
        var listed = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders?status=CANCELLED&item_sku={sku}", Ct))!;
        Assert.Equal([orderId], listed["items"]!.AsArray().Select(o => o!["order_id"]!.GetValue<string>()));
        using var replay = await System.PlaceAsync(sku, 4, 25m, sku);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(replay)).Str("status"));
        Assert.Equal(10, await System.AvailableAsync(sku));
    }

    [Fact]
    public async Task A_failed_order_is_not_cancellable_an_unknown_one_is_not_found_and_bad_input_writes_nothing()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 10);
        using var declined = await System.PlaceAsync(sku, 1, 1500m, $"{sku}-declined");
        var failedId = (await OmsSystem.BodyAsync(declined)).Str("order_id");
        using (var response = await CancelAsync(System, failedId, null))
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "order_not_cancellable");
        Assert.Equal(["order.created", "order.failed"], Timeline.Types(await Timeline.ReadAsync(System, failedId)));

        using (var response = await CancelAsync(System, Guid.NewGuid().ToString(), null))
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not_found");
        using (var response = await CancelAsync(System, "not-a-uuid", null))
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");

        using var placed = await System.PlaceAsync(sku, 2, 10m, $"{sku}-confirmed");
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");
        foreach (var (body, contentType, status, code) in new[]
                 {
                     ($$"""{"reason":"{{new string('x', 201)}}"}""", "application/json", HttpStatusCode.BadRequest, "validation_failed"),
                     ("""{"reason":12}""", "application/json", HttpStatusCode.BadRequest, "validation_failed"),
                     ("""{"reason":""", "application/json", HttpStatusCode.BadRequest, "malformed_json"),
                     ("[]", "application/json", HttpStatusCode.BadRequest, "malformed_json"),
                     ("reason=x", "text/plain", HttpStatusCode.UnsupportedMediaType, "unsupported_media_type"),
                 })
        {
            using var response = await System.Orders.PostAsync($"/api/v1/orders/{orderId}/cancel", new StringContent(body, Encoding.UTF8, contentType), Ct);
            await ProblemAssert.IsProblemAsync(response, status, code);
        }
        var order = (await System.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}", Ct))!;
        Assert.Equal("CONFIRMED", order.Str("status"));
        Assert.Equal(4, (await Timeline.ReadAsync(System, orderId)).Count);
        Assert.Equal(8, await System.AvailableAsync(sku));

        // 200 characters is the most a reason may have.
        using var longest = await CancelAsync(System, orderId, $$"""{"reason":"{{new string('y', 200)}}"}""");
        Assert.Equal(HttpStatusCode.OK, longest.StatusCode);
        await AssertHoldsNothingAsync(System, orderId, sku, available: 10);
    }

    [Fact]
    public async Task A_cancel_while_the_saga_is_held_at_payment_ends_cancelled_with_nothing_held_never_confirmed()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true);
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.Hold;
        var placing = system.PlaceAsync(sku, 3, 40m, sku);

        // The saga has reserved and its authorize is held in the proxy: the order is PENDING, holding stock.
        await Eventually.UntilAsync(() => Task.FromResult(system.PaymentProxy.InFlight == 1), TimeSpan.FromSeconds(30), "the authorize to be held");
        Assert.Equal(7, await system.AvailableAsync(sku));
        var orderId = await OmsSystem.ScalarAsync<Guid>(system.OrdersDb, "SELECT order_id FROM orders WHERE idempotency_key = $1", sku);

        using var cancel = await CancelAsync(system, orderId.ToString(), """{"reason":"too slow"}""");
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("PENDING", (await OmsSystem.BodyAsync(cancel)).Str("status"));

        // The authorize goes through now; the confirm must refuse and everything be given back.
        system.PaymentProxy.Mode = FaultMode.Forward;
        system.PaymentProxy.Release();
        using var placed = await placing;
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(placed)).Str("status"));
        await AssertHoldsNothingAsync(system, orderId.ToString(), sku, available: 10);
        Assert.Equal(["order.created", "order.cancel_requested", "order.cancelled"],
            Timeline.Types(await Timeline.ReadAsync(system, orderId.ToString())));
        await Timeline.AssertNoGapsAsync(system, orderId.ToString());

        using var again = await CancelAsync(system, orderId.ToString(), null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(again)).Str("status"));
    }

    [Fact]
    public async Task Cancels_racing_the_saga_leave_every_order_cancelled_with_nothing_held()
    {
        const int orders = 16;
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 1000);
        var keys = Enumerable.Range(0, orders).Select(i => $"{sku}-{i}").ToArray();
        // Each order is cancelled as soon as it exists, while its saga runs: whichever of confirm and cancel lands first.
        var races = keys.Select(async key =>
        {
            var placing = System.PlaceAsync(sku, 1, 10m, key);
            Guid orderId = default;
            await Eventually.UntilAsync(async () =>
            {
                orderId = await OmsSystem.ScalarAsync<Guid>(System.OrdersDb, "SELECT order_id FROM orders WHERE idempotency_key = $1", key);
                return orderId != Guid.Empty;
            }, TimeSpan.FromSeconds(30), $"order {key} to exist");
            using var cancel = await CancelAsync(System, orderId.ToString(), null);
            Assert.True(cancel.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted, $"cancel answered {(int)cancel.StatusCode}");
            using var placed = await placing;
            Assert.True(placed.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted, $"place answered {(int)placed.StatusCode}");
            return orderId;
        }).ToArray();
        var ids = await Task.WhenAll(races);

        foreach (var id in ids)
        {
            var final = await WaitStatusAsync(System, id.ToString(), "CANCELLED");
            Assert.Equal("CANCELLED", final.Str("status"));
            await AssertHoldsNothingAsync(System, id.ToString(), sku, available: null);
            var types = Timeline.Types(await Timeline.ReadAsync(System, id.ToString()));
            Assert.Equal("order.cancelled", types[^1]);
            Assert.Single(types, t => t == "order.cancel_requested");
            await Timeline.AssertNoGapsAsync(System, id.ToString());
        }
        Assert.Equal(1000, await System.AvailableAsync(sku));
    }

    [Fact]
    public async Task A_cancel_interrupted_after_it_was_recorded_is_finished_by_the_recovery_worker()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>
        {
            ["Saga:RequestBudget"] = "00:00:01",
            ["Saga:AttemptTimeout"] = "00:00:00.300",
            ["Recovery:AttemptBudget"] = "00:00:01",
            ["Recovery:MaxBackoff"] = "00:00:00.500",
        });
        var store = system.OrderServices.GetRequiredService<OrderStore>();
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        using var first = await system.PlaceAsync(sku, 2, 10m, $"{sku}-a");
        using var second = await system.PlaceAsync(sku, 3, 10m, $"{sku}-b");
        var crashed = (await OmsSystem.BodyAsync(first)).Str("order_id");
        var stuck = (await OmsSystem.BodyAsync(second)).Str("order_id");
        Assert.Equal(5, await system.AvailableAsync(sku));

        // A canceller that died right after the cancel was made durable: recorded, leased, nothing given back.
        var recorded = await store.RequestCancelAsync(Guid.Parse(crashed), null, Guid.NewGuid(), TimeSpan.FromMilliseconds(1), Ct);
        Assert.Equal("CONFIRMED", recorded!.Status);
        Assert.True(recorded.CancelRequested);

        // A cancel whose void finds payments down: 202 with the order as it stands, still CONFIRMED.
        system.PaymentProxy!.Mode = FaultMode.ServiceUnavailable;
        using var cancel = await CancelAsync(system, stuck, null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("CONFIRMED", (await OmsSystem.BodyAsync(cancel)).Str("status"));
        system.PaymentProxy.Mode = FaultMode.Forward;

        foreach (var id in new[] { crashed, stuck })
        {
            Assert.Equal("CANCELLED", (await WaitStatusAsync(system, id, "CANCELLED")).Str("status"));
            await AssertHoldsNothingAsync(system, id, sku, available: null);
            Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed",
                "order.cancel_requested", "order.cancelled"], Timeline.Types(await Timeline.ReadAsync(system, id)));
        }
        Assert.Equal(10, await system.AvailableAsync(sku));
    }

    [Fact]
    public async Task A_pending_order_parked_on_a_payment_outage_ends_cancelled_once_payments_is_back()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>
        {
            ["Saga:RequestBudget"] = "00:00:01",
            ["Saga:AttemptTimeout"] = "00:00:00.300",
            ["Recovery:AttemptBudget"] = "00:00:01",
            ["Recovery:MaxBackoff"] = "00:00:00.500",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        system.PaymentProxy!.Mode = FaultMode.ServiceUnavailable;
        using var placed = await system.PlaceAsync(sku, 2, 10m, sku);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");

        using var cancel = await CancelAsync(system, orderId, null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("PENDING", (await OmsSystem.BodyAsync(cancel)).Str("status"));
        system.PaymentProxy.Mode = FaultMode.Forward;

        Assert.Equal("CANCELLED", (await WaitStatusAsync(system, orderId, "CANCELLED")).Str("status"));
        await AssertHoldsNothingAsync(system, orderId, sku, available: 10);
        Assert.Equal(["order.created", "order.cancel_requested", "order.cancelled"], Timeline.Types(await Timeline.ReadAsync(system, orderId)));
    }

    [Fact]
    public async Task A_cancel_that_cannot_finish_past_the_give_up_deadline_shows_on_health_and_never_gives_up()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: new Dictionary<string, string?>
        {
            ["Saga:RequestBudget"] = "00:00:01",
            ["Saga:AttemptTimeout"] = "00:00:00.300",
            ["Recovery:AttemptBudget"] = "00:00:01",
            ["Recovery:MaxBackoff"] = "00:00:00.500",
            ["Recovery:GiveUpAfter"] = "00:00:01",
        });
        var sku = NewSku();
        await system.ReceiveStockAsync(sku, 10);
        using var placed = await system.PlaceAsync(sku, 2, 10m, sku);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");

        // Payments answers every void outside its contract (a token changed): the cancel is recorded and cannot finish.
        system.PaymentProxy!.AnswerStatus = 401;
        system.PaymentProxy.AnswerCode = "unauthorized";
        system.PaymentProxy.Mode = FaultMode.Answer;
        using (var cancel = await CancelAsync(system, orderId, null)) Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        await Eventually.UntilAsync(async () => (await system.Orders.GetStringAsync("/health/ready", Ct)).Contains("Degraded"),
            TimeSpan.FromSeconds(60), "/health/ready to say Degraded");
        var stuck = (await system.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}", Ct))!;
        Assert.Equal("CONFIRMED", stuck.Str("status"));
        Assert.Equal(8, await system.AvailableAsync(sku));

        // Once payments answers as its contract says, recovery finishes the cancel and the report is healthy again.
        system.PaymentProxy.Mode = FaultMode.Forward;
        Assert.Equal("CANCELLED", (await WaitStatusAsync(system, orderId, "CANCELLED")).Str("status"));
        await AssertHoldsNothingAsync(system, orderId, sku, available: 10);
        await Eventually.UntilAsync(async () => (await system.Orders.GetStringAsync("/health/ready", Ct)) == "Healthy",
            TimeSpan.FromSeconds(60), "/health/ready to say Healthy");
    }

    [Fact]
    public async Task The_openapi_document_shows_the_cancel_with_an_optional_body_and_the_timeline()
    {
        var document = (await System.Orders.GetFromJsonAsync<JsonObject>("/openapi/v1.json", Ct))!;
        var cancel = document["paths"]!["/api/v1/orders/{orderId}/cancel"]!["post"]!.AsObject();
        Assert.NotEqual(true, cancel["requestBody"]?["required"]?.GetValue<bool>());
        Assert.NotNull(cancel["requestBody"]!["content"]!["application/json"]);
        Assert.Contains("409", cancel["responses"]!.AsObject().Select(r => r.Key));
        Assert.NotNull(document["paths"]!["/api/v1/orders/{orderId}/events"]!["get"]);
    }

    internal static Task<HttpResponseMessage> CancelAsync(OmsSystem system, string orderId, string? body) =>
        system.Orders.PostAsync($"/api/v1/orders/{orderId}/cancel",
            body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"), Ct);

    private static async Task<JsonObject> WaitStatusAsync(OmsSystem system, string orderId, string status)
    {
        JsonObject order = null!;
        await Eventually.UntilAsync(async () =>
        {
            order = (await system.Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}"))!;
            return order.Str("status") == status;
        }, TimeSpan.FromSeconds(60), $"order {orderId} to be {status}");
        return order;
    }

    /// <summary>Invariant 4 for a CANCELLED order: its reservation released, its payment voided (or never made); stock as expected.</summary>
    internal static async Task AssertHoldsNothingAsync(OmsSystem system, string orderId, string sku, long? available)
    {
        Assert.Equal("RELEASED", await OmsSystem.ScalarAsync<string>(system.InventoryDb, "SELECT status FROM reservations WHERE order_id = $1::uuid", orderId));
        Assert.NotEqual("AUTHORIZED", await OmsSystem.ScalarAsync<string>(system.PaymentsDb, "SELECT status FROM payments WHERE order_id = $1::uuid", orderId));
        if (available is { } expected) Assert.Equal(expected, await system.AvailableAsync(sku));
    }
}
