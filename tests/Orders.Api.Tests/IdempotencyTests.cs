using System.Net;
using System.Net.Http.Json;
using System.Text;
using Oms.Testing;

namespace Orders.Api.Tests;

public sealed class IdempotencyTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;

    private static string NewSku() => $"I-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task ReplayReturnsTheSameOrderAndTouchesNothing()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 10);
        using var first = await System.PlaceAsync(sku, 3, 99.5m, sku);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var order = await OmsSystem.BodyAsync(first);

        // 99.5 and 99.50 are the same amount: still a replay.
        using var replay = await System.Orders.PostAsync("/api/v1/orders",
            new StringContent($$"""{"item_sku":"{{sku}}","quantity":3,"amount":99.50,"idempotency_key":"{{sku}}"}""", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        var replayed = await OmsSystem.BodyAsync(replay);
        Assert.Equal(order.ToJsonString(), replayed.ToJsonString());
        Assert.Equal(7, await System.AvailableAsync(sku));
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(System.PaymentsDb, "SELECT count(*) FROM payments WHERE order_id = $1::uuid", order.Str("order_id")));
    }

    [Fact]
    public async Task FailedOrdersAreReplayedToo()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 1);
        using var first = await System.PlaceAsync(sku, 1, 5000m, sku);
        Assert.Equal("PAYMENT_DECLINED", (await OmsSystem.BodyAsync(first)).Str("failure_reason"));
        using var replay = await System.PlaceAsync(sku, 1, 5000m, sku);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("FAILED", (await OmsSystem.BodyAsync(replay)).Str("status"));
        Assert.Equal(1, await System.AvailableAsync(sku));
    }

    [Theory]
    [InlineData(2, 100)]
    [InlineData(1, 101)]
    public async Task SameKeyWithAnotherPayloadIs422(int quantity, int amount)
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 10);
        using var first = await System.PlaceAsync(sku, 1, 100m, sku);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var reused = await System.PlaceAsync(sku, quantity, amount, sku);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal("idempotency_key_reused", (await OmsSystem.BodyAsync(reused)).Str("code"));
        Assert.Equal(9, await System.AvailableAsync(sku));
    }

    [Fact]
    public async Task KeyMayComeInTheHeader()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 10);
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/orders")
            {
                Content = JsonContent.Create(new { item_sku = sku, quantity = 1, amount = 10 }),
            };
            request.Headers.Add("Idempotency-Key", sku);
            return request;
        }
        using var first = await System.Orders.SendAsync(Request(), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(sku, (await OmsSystem.BodyAsync(first)).Str("idempotency_key"));
        using var again = await System.Orders.SendAsync(Request(), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(9, await System.AvailableAsync(sku));
    }

    [Fact]
    public async Task ConcurrentRequestsWithOneKeyMakeOneOrderAndTakeStockOnce()
    {
        var sku = NewSku();
        await System.ReceiveStockAsync(sku, 100);
        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => System.PlaceAsync(sku, 5, 10m, sku)));
        try
        {
            var statuses = responses.Select(r => (int)r.StatusCode).ToList();
            Assert.All(statuses, s => Assert.Contains(s, new[] { 200, 201, 409 }));
            Assert.Equal(1, statuses.Count(s => s == 201));
            var ids = new HashSet<string>();
            foreach (var response in responses.Where(r => r.StatusCode != HttpStatusCode.Conflict))
                ids.Add((await OmsSystem.BodyAsync(response)).Str("order_id"));
            foreach (var response in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
                Assert.Equal("request_in_progress", (await OmsSystem.BodyAsync(response)).Str("code"));
            Assert.Single(ids);
            Assert.Equal(95, await System.AvailableAsync(sku));
            Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE idempotency_key = $1", sku));
        }
        finally
        {
            foreach (var response in responses) response.Dispose();
        }
    }
}
