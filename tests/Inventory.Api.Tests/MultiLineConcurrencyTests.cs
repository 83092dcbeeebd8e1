using System.Net;
using System.Text.Json;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>
/// Many multi-line reserves at once over overlapping SKUs, lines in random order: every basket is held whole or not at
/// all, no request fails (no deadlock, 40P01), stock is conserved per SKU and never negative.
/// </summary>
public sealed class MultiLineConcurrencyTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _public = service.Client;
    private readonly HttpClient _internal = service.Internal;

    private sealed record Basket(Guid OrderId, (string Sku, long Quantity)[] Lines)
    {
        public long Units => Lines.Sum(l => l.Quantity);
    }

    private static async Task<(HttpStatusCode Status, string Body)> Send(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    /// <summary><paramref name="count"/> baskets of 2-5 distinct SKUs from <paramref name="skus"/>, lines in random order.</summary>
    private static List<Basket> Baskets(Random random, string[] skus, int count, int maxQuantity) =>
        [.. Enumerable.Range(0, count).Select(_ =>
        {
            var shuffled = skus.ToArray();
            random.Shuffle(shuffled);
            return new Basket(Guid.NewGuid(),
                [.. shuffled.Take(random.Next(2, Math.Min(5, skus.Length) + 1)).Select(s => (s, (long)random.Next(1, maxQuantity + 1)))]);
        })];

    private async Task<string[]> Stock(int count, long quantity)
    {
        var skus = Enumerable.Range(0, count).Select(_ => NewSku("ml")).ToArray();
        foreach (var sku in skus) await _public.Receive(sku, quantity).Ok();
        return skus;
    }

    /// <summary>Opens HTTP and database connections up front, so the burst that follows really overlaps in the database.</summary>
    private async Task WarmUp() =>
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Send(_internal.GetAsync($"/api/v1/stock/{NewSku()}", Ct))));

    /// <summary>What the database holds for an order: its lines (whichever form made them) and the reservation's status.</summary>
    private async Task<Dictionary<Guid, (string Status, HashSet<(string, long)> Lines)>> Held(IEnumerable<Guid> orderIds)
    {
        var held = new Dictionary<Guid, (string, HashSet<(string, long)>)>();
        await using var connection = new Npgsql.NpgsqlConnection(service.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT order_id, sku, quantity, status FROM reservation_items WHERE order_id = ANY($1)", connection);
        command.Parameters.Add(new Npgsql.NpgsqlParameter<Guid[]> { TypedValue = [.. orderIds] });
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            var id = reader.GetGuid(0);
            if (!held.TryGetValue(id, out var entry)) held[id] = entry = (reader.GetString(3), []);
            entry.Item2.Add((reader.GetString(1), reader.GetInt32(2)));
        }
        return held;
    }

    /// <summary>Received = available + every RESERVED line, per SKU; and no SKU below zero.</summary>
    private async Task AssertConserved(string[] skus, long received, string context)
    {
        foreach (var sku in skus)
        {
            var available = await _public.Available(sku);
            var reserved = await service.ScalarAsync<long>(
                "SELECT coalesce(sum(quantity), 0)::bigint FROM reservation_items WHERE sku = $1 AND status = 'RESERVED'", sku);
            Assert.True(available >= 0, $"{sku} is negative: {available} ({context})");
            Assert.True(received == available + reserved, $"{sku}: received {received} != available {available} + reserved {reserved} ({context})");
        }
    }

    private static void AssertNoServerError((HttpStatusCode Status, string Body) answer, string context)
    {
        Assert.True((int)answer.Status < 500, $"{(int)answer.Status} {answer.Body} ({context})");
        Assert.DoesNotContain("40P01", answer.Body);
        Assert.DoesNotContain("deadlock", answer.Body, StringComparison.OrdinalIgnoreCase);
    }

    private static HashSet<(string, long)> LinesOf(string body) =>
        [.. JsonDocument.Parse(body).RootElement.GetProperty("items").EnumerateArray()
            .Select(l => (l.GetProperty("item_sku").GetString()!, l.GetProperty("quantity").GetInt64()))];

    [Fact]
    public async Task Baskets_competing_for_the_last_units_are_held_whole_or_not_at_all()
    {
        const long received = 8;
        var seed = Random.Shared.Next();
        var context = $"seed {seed}";
        var skus = await Stock(6, received);
        // 60 baskets of at least 2 units each want at least 120 of the 48 units: many must lose, and the first to commit wins.
        var baskets = Baskets(new Random(seed), skus, 60, maxQuantity: 3);
        await WarmUp();

        var answers = await Task.WhenAll(baskets.Select(b => Send(_internal.ReserveLines(b.OrderId, b.Lines))));

        var held = await Held(baskets.Select(b => b.OrderId));
        for (var i = 0; i < baskets.Count; i++)
        {
            var (basket, answer) = (baskets[i], answers[i]);
            AssertNoServerError(answer, context);
            if (answer.Status == HttpStatusCode.OK)
            {
                Assert.Equal(basket.Lines.ToHashSet(), LinesOf(answer.Body));
                Assert.All(JsonDocument.Parse(answer.Body).RootElement.GetProperty("items").EnumerateArray(),
                    l => Assert.True(l.GetProperty("remaining").GetInt64() >= 0, answer.Body));
                Assert.True(held.TryGetValue(basket.OrderId, out var h), $"an answered reservation is not stored ({context})");
                Assert.Equal("RESERVED", h.Status);
                Assert.Equal(basket.Lines.ToHashSet(), h.Lines); // every line held, none missing
            }
            else
            {
                Assert.True(answer.Status == HttpStatusCode.Conflict && answer.Body.Contains("\"insufficient_stock\""),
                    $"{(int)answer.Status} {answer.Body} ({context})");
                Assert.False(held.ContainsKey(basket.OrderId), $"a refused basket holds stock ({context})");
                Assert.Equal(0, await service.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE order_id = $1", basket.OrderId));
            }
        }
        Assert.Contains(answers, a => a.Status == HttpStatusCode.OK);
        Assert.Contains(answers, a => a.Status == HttpStatusCode.Conflict);
        await AssertConserved(skus, received, context);
    }

    [Fact]
    public async Task Overlapping_baskets_one_line_reserves_and_racing_releases_never_deadlock_or_leak()
    {
        const long received = 100_000;
        var seed = Random.Shared.Next();
        var context = $"seed {seed}";
        var random = new Random(seed);
        var skus = await Stock(5, received);
        // Enough stock for everyone: every basket locks its rows, so overlapping baskets collide on as many rows as possible.
        var baskets = Baskets(random, skus, 50, maxQuantity: 20);
        var raced = baskets.Where((_, i) => i % 2 == 0).Select(b => b.OrderId).ToHashSet();
        var singles = Enumerable.Range(0, 20).Select(_ => (Id: Guid.NewGuid(), Sku: random.GetItems(skus, 1)[0], Quantity: (long)random.Next(1, 20))).ToList();
        await WarmUp();

        var reserves = baskets.ToDictionary(b => b.OrderId, b => Send(_internal.ReserveLines(b.OrderId, b.Lines)));
        var releases = raced.ToDictionary(id => id, id => Send(_internal.Release(id)));
        var oneLine = singles.ToDictionary(s => s.Id, s => Send(_internal.Reserve(s.Id, s.Sku, s.Quantity)));
        await Task.WhenAll(reserves.Values.Concat(releases.Values).Concat(oneLine.Values));

        var held = await Held(baskets.Select(b => b.OrderId));
        foreach (var basket in baskets)
        {
            var reserve = await reserves[basket.OrderId];
            AssertNoServerError(reserve, context);
            if (!raced.Contains(basket.OrderId))
            {
                Assert.True(reserve.Status == HttpStatusCode.OK, $"{(int)reserve.Status} {reserve.Body} ({context})");
                Assert.Equal("RESERVED", held[basket.OrderId].Status);
                Assert.Equal(basket.Lines.ToHashSet(), held[basket.OrderId].Lines);
                continue;
            }
            var release = await releases[basket.OrderId];
            AssertNoServerError(release, context);
            Assert.Equal(HttpStatusCode.OK, release.Status);
            var given = JsonDocument.Parse(release.Body).RootElement.GetProperty("quantity").GetInt64();
            if (reserve.Status == HttpStatusCode.OK)
            {
                // The reserve came first: the release gave every line back.
                Assert.Equal(basket.Units, given);
                Assert.Equal("RELEASED", held[basket.OrderId].Status);
                Assert.Equal(basket.Lines.ToHashSet(), held[basket.OrderId].Lines);
            }
            else
            {
                // The release's tombstone came first: the reserve took nothing.
                Assert.True(reserve.Status == HttpStatusCode.Conflict && reserve.Body.Contains("\"reservation_released\""),
                    $"{(int)reserve.Status} {reserve.Body} ({context})");
                Assert.Equal(0, given);
                Assert.False(held.ContainsKey(basket.OrderId));
            }
        }
        foreach (var (id, answer) in oneLine)
        {
            AssertNoServerError(await answer, context);
            Assert.Equal(HttpStatusCode.OK, (await answer).Status);
        }
        await AssertConserved(skus, received, context);
    }
    [Fact]
    public async Task One_order_reserved_in_both_forms_at_once_ends_as_one_reservation()
    {
        const long received = 10_000;
        var (a, b) = (NewSku("ml"), NewSku("ml"));
        await _public.Receive(a, received).Ok();
        await _public.Receive(b, received).Ok();
        await WarmUp();

        // Each order is reserved as [a:1, b:2] and as the one line a:1 at the same time, several times each: whichever
        // form commits first is the reservation, its repeats replay it, and the other form is refused with 422.
        var orders = Enumerable.Range(0, 20).Select(_ => Guid.NewGuid()).ToList();
        var calls = orders.ToDictionary(id => id, id => Enumerable.Range(0, 3).SelectMany(_ => new[]
        {
            (Lines: true, Answer: Send(_internal.ReserveLines(id, (b, 2), (a, 1)))),
            (Lines: false, Answer: Send(_internal.Reserve(id, a, 1))),
        }).ToList());
        await Task.WhenAll(calls.Values.SelectMany(c => c.Select(x => x.Answer)));

        var held = await Held(orders);
        foreach (var (id, answers) in calls)
        {
            var results = answers.Select(x => (x.Lines, Answer: x.Answer.Result)).ToList();
            foreach (var (_, answer) in results) AssertNoServerError(answer, $"order {id}");
            var won = results.Where(r => r.Answer.Status == HttpStatusCode.OK).Select(r => r.Lines).Distinct().ToList();
            Assert.True(won.Count == 1, $"order {id}: both forms answered 200: {string.Join(" | ", results.Select(r => r.Answer.Body))}");
            var winner = won[0];
            Assert.All(results.Where(r => r.Lines != winner), r => Assert.True(
                r.Answer.Status == (HttpStatusCode)422 && r.Answer.Body.Contains("\"idempotency_key_reused\""), r.Answer.Body));
            Assert.Single(results.Where(r => r.Lines == winner).Select(r => r.Answer.Body).Distinct());
            Assert.Equal(winner ? [(a, 1L), (b, 2L)] : new HashSet<(string, long)> { (a, 1L) }, held[id].Lines);
        }
        await AssertConserved([a, b], received, "both forms");
    }
}
