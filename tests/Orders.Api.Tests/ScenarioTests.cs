using System.Net;
using System.Net.Http.Json;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>The four scenarios of the original specification, in order, on a fresh system.</summary>
public sealed class ScenarioTests(PostgresServer pg) : IAsyncLifetime
{
    private OmsSystem _system = null!;

    public async ValueTask InitializeAsync() => _system = await OmsSystem.StartAsync(pg);
    public async ValueTask DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task FourScenariosGiveExactlyTheContractsAnswers()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var stock = await _system.Inventory.PostAsJsonAsync("/api/v1/stock/items", new { item_sku = "A", quantity = 10 }, ct))
            Assert.Equal(HttpStatusCode.OK, stock.StatusCode);

        // 1. Successful order.
        using var first = await _system.PlaceAsync("A", 2, 100m, "key-1");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var order = await OmsSystem.BodyAsync(first);
        Assert.Equal("CONFIRMED", order.Str("status"));
        Assert.Null(order["failure_reason"]);
        Assert.Equal($"/api/v1/orders/{order.Str("order_id")}", first.Headers.Location!.OriginalString);
        Assert.Equal(8, await _system.AvailableAsync("A"));

        // 2. Payment failure.
        using var declined = await _system.PlaceAsync("A", 1, 1500m, "key-2");
        Assert.Equal(HttpStatusCode.Created, declined.StatusCode);
        var declinedOrder = await OmsSystem.BodyAsync(declined);
        Assert.Equal("FAILED", declinedOrder.Str("status"));
        Assert.Equal("PAYMENT_DECLINED", declinedOrder.Str("failure_reason"));
        Assert.Equal(8, await _system.AvailableAsync("A"));

        // 3. Insufficient stock.
        using var tooMany = await _system.PlaceAsync("A", 20, 100m, "key-3");
        Assert.Equal(HttpStatusCode.Created, tooMany.StatusCode);
        var tooManyOrder = await OmsSystem.BodyAsync(tooMany);
        Assert.Equal("FAILED", tooManyOrder.Str("status"));
        Assert.Equal("INSUFFICIENT_STOCK", tooManyOrder.Str("failure_reason"));
        Assert.Equal(8, await _system.AvailableAsync("A"));

        // 4. Idempotency: the same request again.
        using var replay = await _system.PlaceAsync("A", 2, 100m, "key-1");
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        var replayed = await OmsSystem.BodyAsync(replay);
        Assert.Equal(order.Str("order_id"), replayed.Str("order_id"));
        Assert.Equal("CONFIRMED", replayed.Str("status"));
        Assert.Equal(8, await _system.AvailableAsync("A"));
        Assert.Equal(3L, await OmsSystem.ScalarAsync<long>(_system.OrdersDb, "SELECT count(*) FROM orders"));
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(_system.PaymentsDb, "SELECT count(*) FROM payments WHERE status = 'AUTHORIZED'"));
    }
}
