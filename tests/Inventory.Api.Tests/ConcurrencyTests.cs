using System.Net;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Many real HTTP requests at once against one item: no oversell, no double take, no leak.</summary>
public sealed class ConcurrencyTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _public = service.Client;
    private readonly HttpClient _internal = service.Internal;

    private static async Task<(HttpStatusCode Status, string Body)> Send(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private Task<long> ReservedSum(string sku) => service.ScalarAsync<long>(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM reservations WHERE sku = $1 AND status = 'RESERVED'", sku);

    [Fact]
    public async Task Two_hundred_reserves_for_fifty_units_never_oversell()
    {
        var sku = NewSku();
        await _public.Receive(sku, 50).Ok();
        await WarmUp();

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Send(_internal.Reserve(Guid.NewGuid(), sku, 1))));

        Assert.DoesNotContain(results, r => (int)r.Status >= 500);
        var won = results.Where(r => r.Status == HttpStatusCode.OK).ToList();
        var lost = results.Where(r => r.Status == HttpStatusCode.Conflict).ToList();
        Assert.Equal(50, won.Count);
        Assert.Equal(150, lost.Count);
        Assert.All(lost, r => Assert.Contains("\"insufficient_stock\"", r.Body));
        // Each winner saw its own "remaining": 49, 48, …, 0 exactly once.
        var remaining = won.Select(r => System.Text.Json.JsonDocument.Parse(r.Body).RootElement.GetProperty("remaining").GetInt64());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), remaining.Order());
        Assert.Equal(0, await _public.Available(sku));
        Assert.Equal(50, await ReservedSum(sku));
    }

    [Fact]
    public async Task The_same_order_reserved_twenty_times_at_once_takes_stock_once()
    {
        var sku = NewSku();
        await _public.Receive(sku, 1000).Ok();
        await WarmUp();

        // Ten orders, each reserved twenty times at once, all 200 requests in flight together.
        var orders = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid()).ToList();
        var calls = orders.ToDictionary(id => id, id => Enumerable.Range(0, 20).Select(_ => Send(_internal.Reserve(id, sku, 5))).ToList());
        await Task.WhenAll(calls.Values.SelectMany(c => c));

        foreach (var (id, answers) in calls)
        {
            var results = answers.Select(t => t.Result).ToList();
            Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
            Assert.Single(results.Select(r => r.Body).Distinct());
            Assert.Contains($"\"order_id\":\"{id}\"", results[0].Body);
        }
        Assert.Equal(950, await _public.Available(sku));
        Assert.Equal(50, await ReservedSum(sku));
    }

    /// <summary>Opens HTTP and database connections up front, so the burst that follows really overlaps in the database.</summary>
    private async Task WarmUp()
    {
        var sku = NewSku();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Send(_internal.GetAsync($"/api/v1/stock/{sku}", Ct))));
    }

    [Fact]
    public async Task Concurrent_reserves_and_releases_never_leak_stock()
    {
        const long received = 10_000;
        var sku = NewSku();
        await _public.Receive(sku, received).Ok();
        await WarmUp();

        // 60 orders race a reserve against two releases; 40 more only reserve (they keep their stock).
        var raced = Enumerable.Range(0, 60).Select(i => (Id: Guid.NewGuid(), Quantity: 1 + i % 5)).ToList();
        var kept = Enumerable.Range(0, 40).Select(i => (Id: Guid.NewGuid(), Quantity: 1 + i % 3)).ToList();

        var reserves = raced.Concat(kept).ToDictionary(o => o.Id, o => Send(_internal.Reserve(o.Id, sku, o.Quantity)));
        var releases = raced.ToDictionary(o => o.Id, o => new[] { Send(_internal.Release(o.Id)), Send(_internal.Release(o.Id)) });
        await Task.WhenAll(reserves.Values.Concat(releases.Values.SelectMany(r => r)));

        foreach (var (id, quantity) in raced)
        {
            var reserve = await reserves[id];
            var released = releases[id].Select(t => t.Result).ToList();
            Assert.All(released, r => Assert.Equal(HttpStatusCode.OK, r.Status));
            Assert.True(released[0].Body == released[1].Body, $"both releases answer alike: {released[0].Body} / {released[1].Body}");
            if (reserve.Status == HttpStatusCode.OK)
                Assert.Contains($"\"quantity\":{quantity}", released[0].Body); // the release gave it back
            else
            {
                Assert.Equal(HttpStatusCode.Conflict, reserve.Status); // the tombstone came first
                Assert.Contains("\"reservation_released\"", reserve.Body);
                Assert.Contains("\"quantity\":0", released[0].Body);
            }
        }
        foreach (var (id, _) in kept) Assert.Equal(HttpStatusCode.OK, (await reserves[id]).Status);

        var available = await _public.Available(sku);
        var held = await ReservedSum(sku);
        Assert.Equal(kept.Sum(o => (long)o.Quantity), held);
        Assert.Equal(received, available + held);
    }
}
