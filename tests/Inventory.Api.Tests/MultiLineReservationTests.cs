using System.Net;
using System.Text.Json;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>The multi-line reserve (<c>items</c>): all or nothing, every short or unknown SKU named, idempotent as a set, released whole.</summary>
public sealed class MultiLineReservationTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _public = service.Client;
    private readonly HttpClient _internal = service.Internal;

    private async Task<string> Stocked(long quantity)
    {
        var sku = NewSku();
        await _public.Receive(sku, quantity).Ok();
        return sku;
    }

    private Task<long> ReservationRows(Guid orderId) =>
        service.ScalarAsync<long>("SELECT count(*) FROM reservations WHERE order_id = $1", orderId);

    private Task<long> LineRows(Guid orderId) =>
        service.ScalarAsync<long>("SELECT count(*) FROM reservation_lines WHERE order_id = $1", orderId);

    private static void AssertLines(JsonElement body, Guid orderId, params (string Sku, int Quantity, long Remaining)[] expected)
    {
        Assert.Equal(orderId, body.GetProperty("order_id").GetGuid());
        Assert.Equal("RESERVED", body.GetProperty("status").GetString());
        // The items form answers lines only: no one-line fields beside them.
        Assert.False(body.TryGetProperty("item_sku", out _), body.ToString());
        Assert.False(body.TryGetProperty("remaining", out _), body.ToString());
        var items = body.GetProperty("items").EnumerateArray()
            .Select(l => (l.GetProperty("item_sku").GetString()!, l.GetProperty("quantity").GetInt32(), l.GetProperty("remaining").GetInt64()))
            .ToArray();
        Assert.Equal(expected, items);
    }

    [Fact]
    public async Task Reserves_every_line_and_answers_each_remaining_in_request_order()
    {
        var (a, b, c) = (await Stocked(10), await Stocked(20), await Stocked(5));
        var orderId = Guid.NewGuid();

        var body = await _internal.ReserveLines(orderId, (b, 5), (a, 3), (c, 5)).Ok();

        AssertLines(body, orderId, (b, 5, 15), (a, 3, 7), (c, 5, 0));
        Assert.Equal(7, await _public.Available(a));
        Assert.Equal(15, await _public.Available(b));
        Assert.Equal(0, await _public.Available(c));
        Assert.Equal(1, await ReservationRows(orderId));
        Assert.Equal(3, await LineRows(orderId));
    }

    [Fact]
    public async Task Short_lines_are_409_naming_every_short_sku_and_nothing_is_held()
    {
        var (a, b, c) = (await Stocked(10), await Stocked(2), await Stocked(1));
        var orderId = Guid.NewGuid();

        var problem = await _internal.ReserveLines(orderId, (a, 3), (b, 5), (c, 4)).Problem(HttpStatusCode.Conflict, "insufficient_stock");

        var errors = problem.GetProperty("errors");
        Assert.Equal(new HashSet<string> { b, c }, errors.EnumerateObject().Select(e => e.Name).ToHashSet());
        Assert.All(errors.EnumerateObject(), e => Assert.True(e.Value.GetArrayLength() > 0));
        Assert.Equal((10L, 2L, 1L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));
        Assert.Equal(0, await ReservationRows(orderId));

        // Nothing was recorded for the order: once there is stock, the same order id reserves every line.
        await _public.Receive(b, 3).Ok();
        await _public.Receive(c, 3).Ok();
        AssertLines(await _internal.ReserveLines(orderId, (a, 3), (b, 5), (c, 4)).Ok(), orderId, (a, 3, 7), (b, 5, 0), (c, 4, 0));
    }

    [Fact]
    public async Task Unknown_items_are_404_naming_every_unknown_sku_and_nothing_is_held()
    {
        var a = await Stocked(10);
        var (x, y) = (NewSku(), NewSku());
        var orderId = Guid.NewGuid();

        var problem = await _internal.ReserveLines(orderId, (x, 1), (a, 2), (y, 1)).Problem(HttpStatusCode.NotFound, "unknown_item");

        var named = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ToHashSet();
        Assert.Contains(x, named);
        Assert.Contains(y, named);
        Assert.DoesNotContain(a, named);
        Assert.Equal(10, await _public.Available(a));
        await _public.AssertMissing(x);
        await _public.AssertMissing(y);
        Assert.Equal(0, await ReservationRows(orderId));
    }

    [Fact]
    public async Task Unknown_and_short_lines_together_are_404_naming_both()
    {
        var (a, b) = (await Stocked(10), await Stocked(1));
        var x = NewSku();

        var problem = await _internal.ReserveLines(Guid.NewGuid(), (a, 2), (b, 2), (x, 1)).Problem(HttpStatusCode.NotFound, "unknown_item");

        var named = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ToHashSet();
        Assert.Equal(new HashSet<string> { b, x }, named);
        Assert.Equal((10L, 1L), (await _public.Available(a), await _public.Available(b)));
    }

    [Fact]
    public async Task A_repeat_in_any_line_order_replays_the_first_result_and_changes_nothing()
    {
        var (a, b, c) = (await Stocked(10), await Stocked(10), await Stocked(10));
        var orderId = Guid.NewGuid();
        var first = (await _internal.ReserveLines(orderId, (a, 2), (b, 3), (c, 1)).Ok()).GetRawText();
        await _public.Receive(a, 100).Ok(); // stock moves on; the replay still answers the first result

        Assert.Equal(first, (await _internal.ReserveLines(orderId, (c, 1), (a, 2), (b, 3)).Ok()).GetRawText());
        Assert.Equal(first, (await _internal.ReserveLines(orderId, (a, 2), (b, 3), (c, 1)).Ok()).GetRawText());
        Assert.Equal((108L, 7L, 9L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));
        Assert.Equal(3, await LineRows(orderId));
    }

    [Fact]
    public async Task A_repeat_with_other_lines_is_422_and_changes_nothing()
    {
        var (a, b, c) = (await Stocked(10), await Stocked(10), await Stocked(10));
        var orderId = Guid.NewGuid();
        await _internal.ReserveLines(orderId, (a, 2), (b, 3)).Ok();

        await _internal.ReserveLines(orderId, (a, 2), (b, 4)).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.ReserveLines(orderId, (a, 2), (c, 3)).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.ReserveLines(orderId, (a, 2), (b, 3), (c, 1)).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.ReserveLines(orderId, (a, 2)).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.Reserve(orderId, a, 2).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.ReserveLines(orderId, (a, 2), (NewSku(), 3)).Problem((HttpStatusCode)422, "idempotency_key_reused");

        Assert.Equal((8L, 7L, 10L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));
        Assert.Equal(2, await LineRows(orderId));
    }

    [Fact]
    public async Task A_one_line_reserve_and_a_one_line_items_reserve_are_the_same_reservation()
    {
        var (a, b) = (await Stocked(10), await Stocked(10));

        // One-line form first: the items form replays it, in the items shape.
        var first = Guid.NewGuid();
        await _internal.Reserve(first, a, 2).Ok();
        AssertLines(await _internal.ReserveLines(first, (a, 2)).Ok(), first, (a, 2, 8));
        await _internal.ReserveLines(first, (a, 3)).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.ReserveLines(first, (a, 2), (b, 1)).Problem((HttpStatusCode)422, "idempotency_key_reused");

        // Items form first: the one-line form replays it, in the one-line shape.
        var second = Guid.NewGuid();
        AssertLines(await _internal.ReserveLines(second, (b, 4)).Ok(), second, (b, 4, 6));
        var replay = await _internal.Reserve(second, b, 4).Ok();
        Assert.Equal((b, 4, 6L), (replay.GetProperty("item_sku").GetString(), replay.GetProperty("quantity").GetInt32(), replay.GetProperty("remaining").GetInt64()));
        Assert.False(replay.TryGetProperty("items", out _), replay.ToString());
        await _internal.Reserve(second, b, 5).Problem((HttpStatusCode)422, "idempotency_key_reused");

        Assert.Equal((8L, 6L), (await _public.Available(a), await _public.Available(b)));
    }

    [Fact]
    public async Task A_one_line_items_reserve_names_its_sku_when_short_or_unknown()
    {
        var a = await Stocked(1);
        var x = NewSku();
        var shortProblem = await _internal.ReserveLines(Guid.NewGuid(), (a, 2)).Problem(HttpStatusCode.Conflict, "insufficient_stock");
        Assert.True(shortProblem.GetProperty("errors").TryGetProperty(a, out _), shortProblem.ToString());
        var unknownProblem = await _internal.ReserveLines(Guid.NewGuid(), (x, 1)).Problem(HttpStatusCode.NotFound, "unknown_item");
        Assert.True(unknownProblem.GetProperty("errors").TryGetProperty(x, out _), unknownProblem.ToString());
        Assert.Equal(1, await _public.Available(a));
    }

    [Fact]
    public async Task Release_gives_back_every_line_once()
    {
        var (a, b, c) = (await Stocked(10), await Stocked(10), await Stocked(10));
        var orderId = Guid.NewGuid();
        await _internal.ReserveLines(orderId, (a, 2), (b, 3), (c, 4)).Ok();
        Assert.Equal((8L, 7L, 6L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));

        var released = await _internal.Release(orderId).Ok();
        Assert.Equal(orderId, released.GetProperty("order_id").GetGuid());
        Assert.Equal("RELEASED", released.GetProperty("status").GetString());
        Assert.Equal(9, released.GetProperty("quantity").GetInt32()); // every unit the reservation held
        Assert.Equal((10L, 10L, 10L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));

        Assert.Equal(released.GetRawText(), (await _internal.Release(orderId).Ok()).GetRawText());
        Assert.Equal((10L, 10L, 10L), (await _public.Available(a), await _public.Available(b), await _public.Available(c)));
    }

    [Fact]
    public async Task Reserve_after_release_is_409_reservation_released()
    {
        var (a, b) = (await Stocked(10), await Stocked(10));

        var released = Guid.NewGuid();
        await _internal.ReserveLines(released, (a, 2), (b, 3)).Ok();
        await _internal.Release(released).Ok();
        await _internal.ReserveLines(released, (a, 2), (b, 3)).Problem(HttpStatusCode.Conflict, "reservation_released");
        await _internal.ReserveLines(released, (b, 1), (a, 1)).Problem(HttpStatusCode.Conflict, "reservation_released");
        await _internal.Reserve(released, a, 2).Problem(HttpStatusCode.Conflict, "reservation_released");

        // A release that came first leaves a tombstone: a late multi-line reserve is refused too.
        var tombstoned = Guid.NewGuid();
        await _internal.Release(tombstoned).Ok();
        await _internal.ReserveLines(tombstoned, (a, 1), (b, 1)).Problem(HttpStatusCode.Conflict, "reservation_released");
        await _internal.ReserveLines(tombstoned, (a, 1)).Problem(HttpStatusCode.Conflict, "reservation_released");

        Assert.Equal((10L, 10L), (await _public.Available(a), await _public.Available(b)));
    }

    [Fact]
    public async Task Fifty_lines_are_one_reservation()
    {
        var skus = new List<string>();
        for (var i = 0; i < 50; i++) skus.Add(await Stocked(3));
        var orderId = Guid.NewGuid();

        var body = await _internal.ReserveLines(orderId, [.. skus.Select(s => (s, 2L))]).Ok();

        Assert.Equal(50, body.GetProperty("items").GetArrayLength());
        Assert.All(body.GetProperty("items").EnumerateArray(), l => Assert.Equal(1, l.GetProperty("remaining").GetInt64()));
        Assert.Equal(100, (await _internal.Release(orderId).Ok()).GetProperty("quantity").GetInt32());
        foreach (var sku in skus) Assert.Equal(3, await _public.Available(sku));
    }

    [Theory]
    [InlineData("""{"order_id":"{id}","items":[]}""", "items")]
    [InlineData("""{"order_id":"{id}","items":"{a}"}""", "items")]
    [InlineData("""{"order_id":"{id}","items":{"item_sku":"{a}","quantity":1}}""", "items")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{a}","quantity":2}]}""", "items[1].item_sku")]
    [InlineData("""{"order_id":"{id}","item_sku":"{a}","quantity":1,"items":[{"item_sku":"{b}","quantity":1}]}""", "items")]
    [InlineData("""{"order_id":"{id}","item_sku":"{a}","items":[{"item_sku":"{b}","quantity":1}]}""", "items")]
    [InlineData("""{"order_id":"{id}","quantity":1,"items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{b}","quantity":1}]}""", "items")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{b}","quantity":0}]}""", "items[1].quantity")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{b}","quantity":1000001}]}""", "items[1].quantity")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":"2"},{"item_sku":"{b}","quantity":1}]}""", "items[0].quantity")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1.5},{"item_sku":"{b}","quantity":1}]}""", "items[0].quantity")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}"},{"item_sku":"{b}","quantity":1}]}""", "items[0].quantity")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"quantity":1}]}""", "items[1].item_sku")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"item_sku":"bad sku","quantity":1}]}""", "items[1].item_sku")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},{"item_sku":7,"quantity":1}]}""", "items[1].item_sku")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},"{b}"]}""", "items[1]")]
    [InlineData("""{"order_id":"{id}","items":[{"item_sku":"{a}","quantity":1},null]}""", "items[1]")]
    [InlineData("""{"order_id":"nope","items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{b}","quantity":1}]}""", "order_id")]
    [InlineData("""{"items":[{"item_sku":"{a}","quantity":1},{"item_sku":"{b}","quantity":1}]}""", "order_id")]
    public async Task Multi_line_validation_is_400_and_writes_nothing(string template, string field)
    {
        var (a, b) = (await Stocked(10), await Stocked(10));
        var orderId = Guid.NewGuid();
        var body = template.Replace("{a}", a).Replace("{b}", b).Replace("{id}", orderId.ToString());

        await _internal.PostJson("/api/v1/stock/reserve", body).Invalid(field);

        Assert.Equal((10L, 10L), (await _public.Available(a), await _public.Available(b)));
        Assert.Equal(0, await ReservationRows(orderId));
        AssertLines(await _internal.ReserveLines(orderId, (a, 1), (b, 1)).Ok(), orderId, (a, 1, 9), (b, 1, 9));
    }

    [Fact]
    public async Task Fifty_one_lines_are_400_and_write_nothing()
    {
        var skus = Enumerable.Range(0, 51).Select(_ => NewSku()).ToList();
        var stocked = skus[0];
        await _public.Receive(stocked, 10).Ok();
        var orderId = Guid.NewGuid();

        await _internal.ReserveLines(orderId, [.. skus.Select(s => (s, 1L))]).Invalid("items");

        Assert.Equal(10, await _public.Available(stocked));
        Assert.Equal(0, await ReservationRows(orderId));
        await _public.AssertMissing(skus[1]);
    }
}
