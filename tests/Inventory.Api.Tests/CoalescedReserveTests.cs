using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>
/// Reserves coalesced into groups (one transaction and one commit per group): each order still gets exactly its own
/// answer. The group tests drive <see cref="StockStore"/>'s group path on the service's real database, with groups of a
/// known make-up; the concurrency tests send real HTTP requests at once to one hot SKU, where groups form by themselves.
/// </summary>
public sealed class CoalescedReserveTests(InventoryService service) : IClassFixture<InventoryService>, IAsyncLifetime
{
    private readonly HttpClient _public = service.Client;
    private readonly HttpClient _internal = service.Internal;
    private NpgsqlDataSource _db = null!;

    public ValueTask InitializeAsync()
    {
        // The service's own runtime role: what the service's store connects as.
        _db = NpgsqlDataSource.Create(service.Database.Runtime);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    /// <summary>A store of its own (its own coalescer): two of them are two replicas of the service on one database.</summary>
    private StockStore NewStore() => new(_db, Options.Create(new Oms.Database.CoalescingOptions()));

    private static ReserveCall Call(Guid orderId, params (string Sku, int Quantity)[] lines) =>
        new(orderId, [.. lines.Select(l => new ReserveLine(l.Sku, l.Quantity))]);

    private async Task<string> Stocked(long quantity, string prefix = "hot")
    {
        var sku = NewSku(prefix);
        await _public.Receive(sku, quantity).Ok();
        return sku;
    }

    private Task<long> Held(string sku) => service.ScalarAsync<long>(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM reservation_items WHERE sku = $1 AND status = 'RESERVED'", sku);

    private Task<long> Reservations(Guid orderId) =>
        service.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE order_id = $1", orderId);

    private static async Task<(HttpStatusCode Status, string Body)> Send(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private static void AssertNoServerError((HttpStatusCode Status, string Body) answer)
    {
        Assert.True((int)answer.Status < 500, $"{(int)answer.Status} {answer.Body}");
        Assert.DoesNotContain("40P01", answer.Body);
    }

    [Fact]
    public async Task A_short_or_unknown_member_fails_alone_and_the_others_in_its_group_are_held()
    {
        var (x, y) = (await Stocked(6), await Stocked(5));
        var unknown = NewSku("none");
        var ids = Enumerable.Range(0, 6).Select(_ => Guid.NewGuid()).ToArray();
        await using var store = NewStore();

        // In order of arrival: 3 of x fits (3 left); 10 of x is short; a basket of 2 x + 1 y fits (1 x, 4 y left);
        // an unknown SKU; a basket short on y only (nothing of it held, x untouched); the last unit of x still fits.
        var answers = await store.ReserveGroupAsync([
            Call(ids[0], (x, 3)),
            Call(ids[1], (x, 10)),
            Call(ids[2], (y, 1), (x, 2)),
            Call(ids[3], (unknown, 1)),
            Call(ids[4], (x, 1), (y, 100)),
            Call(ids[5], (x, 1)),
        ]);

        Assert.Equal(ReserveOutcome.Reserved, answers[0].Outcome);
        Assert.Equal([new ReservedLine(x, 3, 3)], answers[0].Lines);
        Assert.Equal(ReserveOutcome.InsufficientStock, answers[1].Outcome);
        Assert.Equal(["3 available, 10 wanted."], answers[1].Reasons![x]);
        Assert.Equal(ReserveOutcome.Reserved, answers[2].Outcome);
        Assert.Equal([new ReservedLine(y, 1, 4), new ReservedLine(x, 2, 1)], answers[2].Lines); // request order, running stock
        Assert.Equal(ReserveOutcome.UnknownItem, answers[3].Outcome);
        Assert.Equal(["no such item."], answers[3].Reasons![unknown]);
        Assert.Equal(ReserveOutcome.InsufficientStock, answers[4].Outcome);
        Assert.Equal([y], answers[4].Reasons!.Keys); // only the short line is named
        Assert.Equal(ReserveOutcome.Reserved, answers[5].Outcome);
        Assert.Equal([new ReservedLine(x, 1, 0)], answers[5].Lines);

        // The database holds exactly the three that fit.
        Assert.Equal(0, await _public.Available(x));
        Assert.Equal(4, await _public.Available(y));
        Assert.Equal(6, await Held(x));
        Assert.Equal(1, await Held(y));
        foreach (var (id, held) in ids.Zip(new[] { 1L, 0, 1, 0, 0, 1 })) Assert.Equal(held, await Reservations(id));

        // The same calls again, as one more group: the held ones replay their first answers, the others are refused again.
        var again = await store.ReserveGroupAsync([Call(ids[2], (x, 2), (y, 1)), Call(ids[1], (x, 10)), Call(ids[0], (x, 3))]);
        Assert.Equal(ReserveOutcome.Reserved, again[0].Outcome);
        Assert.Equal(answers[2].Lines, again[0].Lines); // the lines as first reserved, whatever order the repeat asks them in
        Assert.Equal(ReserveOutcome.InsufficientStock, again[1].Outcome);
        Assert.Equal(answers[0].Lines, again[2].Lines);
        Assert.Equal(ReserveOutcome.Reserved, again[2].Outcome);
        Assert.Equal(0, await _public.Available(x));
        Assert.Equal(4, await _public.Available(y));
    }

    [Fact]
    public async Task Repeats_of_one_order_id_in_one_group_take_stock_once()
    {
        var sku = await Stocked(100);
        var (id, released) = (Guid.NewGuid(), Guid.NewGuid());
        await _internal.Release(released).Ok(); // a tombstone: it can never reserve
        await using var store = NewStore();

        var answers = await store.ReserveGroupAsync([
            Call(id, (sku, 5)),
            Call(id, (sku, 5)),       // a repeat: the same answer
            Call(id, (sku, 7)),       // the same order id with another quantity: refused, the first holds
            Call(released, (sku, 1)),
            Call(id, (sku, 5)),
        ]);

        Assert.Equal(ReserveOutcome.Reserved, answers[0].Outcome);
        Assert.Equal([new ReservedLine(sku, 5, 95)], answers[0].Lines);
        Assert.Equal(answers[0].Lines, answers[1].Lines);
        Assert.Equal(ReserveOutcome.Reserved, answers[1].Outcome);
        Assert.Equal(ReserveOutcome.OtherLines, answers[2].Outcome);
        Assert.Equal(answers[0].Lines, answers[2].Lines); // what the order holds
        Assert.Equal(ReserveOutcome.Released, answers[3].Outcome);
        Assert.Equal(answers[0].Lines, answers[4].Lines);
        Assert.Equal(95, await _public.Available(sku));
        Assert.Equal(5, await Held(sku));
        Assert.Equal(1, await Reservations(id));
    }

    [Fact]
    public async Task Groups_of_two_replicas_racing_for_the_same_order_ids_take_stock_once_and_never_oversell()
    {
        const long received = 150;
        var hot = await Stocked(received);
        var plenty = await Stocked(1_000_000, "plenty");
        await using var first = NewStore();
        await using var second = NewStore();
        // 200 orders (every fourth a basket with a plentiful SKU), each reserved on both replicas at once, three times on
        // each: groups of both replicas hold the same order ids, in other orders.
        var orders = Enumerable.Range(0, 200)
            .Select(i => i % 4 == 0 ? Call(Guid.NewGuid(), (plenty, 2), (hot, 1)) : Call(Guid.NewGuid(), (hot, 1)))
            .ToList();
        var calls = orders.SelectMany(o => new[] { first, second, first, second, first, second }.Select(store => (o, store)))
            .OrderBy(_ => Random.Shared.Next())
            .Select(c => (c.o.OrderId, Answer: c.store.ReserveAsync(c.o)))
            .ToList();
        await Task.WhenAll(calls.Select(c => c.Answer));

        var byOrder = calls.GroupBy(c => c.OrderId, c => c.Answer.Result).ToDictionary(g => g.Key, g => g.ToList());
        var won = 0;
        foreach (var order in orders)
        {
            var answers = byOrder[order.OrderId];
            // Every call of an order answers alike: all reserved with the same lines, or all refused for want of stock.
            Assert.Single(answers.Select(a => a.Outcome).Distinct());
            Assert.Single(answers.Select(a => string.Join(";", a.Lines)).Distinct());
            if (answers[0].Outcome == ReserveOutcome.Reserved) won++;
            else Assert.Equal(ReserveOutcome.InsufficientStock, answers[0].Outcome);
            Assert.Equal(answers[0].Outcome == ReserveOutcome.Reserved ? 1 : 0, await Reservations(order.OrderId));
        }
        // Exactly the received units were taken (demand is higher), each winner saw its own remaining: 149 … 0 once each.
        Assert.Equal(received, won);
        Assert.Equal(0, await _public.Available(hot));
        Assert.Equal(received, await Held(hot));
        var hotRemaining = byOrder.Values.Select(a => a[0]).Where(a => a.Outcome == ReserveOutcome.Reserved)
            .Select(a => a.Lines.Single(l => l.ItemSku == hot).Remaining);
        Assert.Equal(Enumerable.Range(0, (int)received).Select(i => (long)i), hotRemaining.Order());
        var baskets = orders.Count(o => o.Lines.Count > 1 && byOrder[o.OrderId][0].Outcome == ReserveOutcome.Reserved);
        Assert.Equal(1_000_000 - 2L * baskets, await _public.Available(plenty));
    }

    [Fact]
    public async Task Baskets_and_one_line_orders_on_one_hot_SKU_at_once_are_conserved_exactly()
    {
        const long received = 100;
        var hot = await Stocked(received);
        var others = new[] { await Stocked(10_000, "other"), await Stocked(10_000, "other"), await Stocked(10_000, "other") };
        var seed = Random.Shared.Next();
        var random = new Random(seed);
        // 200 one-line orders of 1 hot unit and 100 baskets of 1 hot unit plus 1-3 units of one or two other SKUs, lines in
        // random order, all at once over HTTP: 300 hot units wanted, 100 there.
        var singles = Enumerable.Range(0, 200).Select(_ => Guid.NewGuid()).ToList();
        var baskets = Enumerable.Range(0, 100).Select(_ =>
        {
            var lines = random.GetItems(others, 2).Distinct().Select(s => (s, (long)random.Next(1, 4))).Append((hot, 1L)).ToArray();
            random.Shuffle(lines);
            return (Id: Guid.NewGuid(), Lines: lines);
        }).ToList();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Send(_internal.GetAsync($"/api/v1/stock/{NewSku()}", Ct))));

        var oneLine = singles.Select(id => (Id: id, Answer: Send(_internal.Reserve(id, hot, 1)))).ToList();
        var lines = baskets.Select(b => (b.Id, b.Lines, Answer: Send(_internal.ReserveLines(b.Id, b.Lines)))).ToList();
        await Task.WhenAll(oneLine.Select(c => c.Answer).Concat(lines.Select(c => c.Answer)));

        var hotRemaining = new List<long>();
        var otherTaken = others.ToDictionary(s => s, _ => 0L);
        foreach (var (id, call) in oneLine)
        {
            var answer = await call;
            AssertNoServerError(answer);
            if (answer.Status == HttpStatusCode.OK)
                hotRemaining.Add(JsonDocument.Parse(answer.Body).RootElement.GetProperty("remaining").GetInt64());
            else
                Assert.True(answer.Status == HttpStatusCode.Conflict && answer.Body.Contains("\"insufficient_stock\""), $"seed {seed}: {answer.Body}");
            Assert.Equal(answer.Status == HttpStatusCode.OK ? 1 : 0, await Reservations(id));
        }
        foreach (var (id, basket, call) in lines)
        {
            var answer = await call;
            AssertNoServerError(answer);
            if (answer.Status == HttpStatusCode.OK)
            {
                var items = JsonDocument.Parse(answer.Body).RootElement.GetProperty("items").EnumerateArray()
                    .ToDictionary(l => l.GetProperty("item_sku").GetString()!, l => l);
                Assert.Equal(basket.Select(l => l.Item1).Order(), items.Keys.Order()); // every line held
                hotRemaining.Add(items[hot].GetProperty("remaining").GetInt64());
                foreach (var (sku, quantity) in basket.Where(l => l.Item1 != hot)) otherTaken[sku] += quantity;
            }
            else
                Assert.True(answer.Status == HttpStatusCode.Conflict && answer.Body.Contains("\"insufficient_stock\""), $"seed {seed}: {answer.Body}");
            Assert.Equal(answer.Status == HttpStatusCode.OK ? 1 : 0, await Reservations(id));
        }

        // Every hot unit went to exactly one order, each saw its own remaining (99 … 0 once each); the other SKUs gave exactly
        // what the held baskets asked.
        Assert.Equal(Enumerable.Range(0, (int)received).Select(i => (long)i), hotRemaining.Order());
        Assert.Equal(0, await _public.Available(hot));
        Assert.Equal(received, await Held(hot));
        foreach (var (sku, taken) in otherTaken)
        {
            Assert.Equal(10_000 - taken, await _public.Available(sku));
            Assert.Equal(taken, await Held(sku));
        }
    }
}
