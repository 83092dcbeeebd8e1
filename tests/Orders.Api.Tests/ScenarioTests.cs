using System.Net;
using System.Net.Http.Json;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>The four scenarios of the original specification, in order, on a fresh system wired as in production.</summary>
public sealed class ScenarioTests(PostgresServer pg) : IAsyncLifetime
{
    private OmsSystem _system = null!;

    public async ValueTask InitializeAsync() => _system = await OmsSystem.StartAsync(pg, h2c: true);
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

/// <summary>The service-to-service endpoint is HTTP/2 cleartext only, and the saga goes through it.</summary>
public sealed class InternalEndpointTests(PostgresServer pg) : IAsyncLifetime
{
    private OmsSystem _system = null!;

    public async ValueTask InitializeAsync() => _system = await OmsSystem.StartAsync(pg, h2c: true);
    public async ValueTask DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task InternalEndpointSpeaksPriorKnowledgeHttp2OnlyAndCarriesTheSaga()
    {
        var ct = TestContext.Current.CancellationToken;
        var h2c = _system.InventoryH2c!;
        using var http = new HttpClient();

        // HTTP/2 with prior knowledge: answered, with the same token check as the public endpoint.
        using var h2 = new HttpRequestMessage(HttpMethod.Get, new Uri(h2c, "/health/live"))
            { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var h2Response = await http.SendAsync(h2, ct);
        Assert.Equal(HttpStatusCode.OK, h2Response.StatusCode);
        Assert.Equal(HttpVersion.Version20, h2Response.Version);
        using var noToken = new HttpRequestMessage(HttpMethod.Post, new Uri(h2c, "/api/v1/stock/reserve"))
            { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = JsonContent.Create(new { }) };
        using var noTokenResponse = await http.SendAsync(noToken, ct);
        Assert.Equal(HttpStatusCode.Unauthorized, noTokenResponse.StatusCode);

        // HTTP/1.1 is not served there (that is the public endpoint's job): Kestrel answers 400 or drops the connection.
        using var h1 = new HttpRequestMessage(HttpMethod.Get, new Uri(h2c, "/health/live")) { Version = HttpVersion.Version11 };
        HttpStatusCode? h1Status;
        try { using var h1Response = await http.SendAsync(h1, ct); h1Status = h1Response.StatusCode; }
        catch (HttpRequestException) { h1Status = null; }
        Assert.True(h1Status is null or HttpStatusCode.BadRequest, $"HTTP/1.1 on the internal endpoint answered {h1Status}");

        // The saga's calls go to that endpoint: an order confirms and the stock moves.
        await _system.ReceiveStockAsync("H2C-1", 5);
        using var placed = await _system.PlaceAsync("H2C-1", 2, 10m, "h2c-key-1");
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        Assert.Equal("CONFIRMED", (await OmsSystem.BodyAsync(placed)).Str("status"));
        Assert.Equal(3, await _system.AvailableAsync("H2C-1"));
        Assert.Equal(h2c.ToString(), _system.OrderSettings["Saga:InventoryUrl"]);
    }
}
