using System.Net;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Reserve and release: results, idempotency, tombstones, validation and the service token.</summary>
public sealed class ReservationTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _public = service.Client;
    private readonly HttpClient _internal = service.Internal;

    private async Task<string> Stocked(long quantity)
    {
        var sku = NewSku();
        await _public.Receive(sku, quantity).Ok();
        return sku;
    }

    [Fact]
    public async Task Reserve_takes_stock_and_answers_the_reservation()
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        var body = await _internal.Reserve(orderId, sku, 3).Ok();
        Assert.Equal(orderId, body.GetProperty("order_id").GetGuid());
        Assert.Equal(sku, body.GetProperty("item_sku").GetString());
        Assert.Equal(3, body.GetProperty("quantity").GetInt32());
        Assert.Equal("RESERVED", body.GetProperty("status").GetString());
        Assert.Equal(7, body.GetProperty("remaining").GetInt64());
        Assert.Equal(7, await _public.Available(sku));
    }

    [Fact]
    public async Task Reserve_can_take_everything_down_to_zero()
    {
        var sku = await Stocked(1_000_000);
        var body = await _internal.Reserve(Guid.NewGuid(), sku, 1_000_000).Ok();
        Assert.Equal(0, body.GetProperty("remaining").GetInt64());
        Assert.Equal(0, await _public.Available(sku));
    }

    [Fact]
    public async Task A_repeat_replays_the_first_result_and_changes_nothing()
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        var first = (await _internal.Reserve(orderId, sku, 4).Ok()).GetRawText();
        await _public.Receive(sku, 100).Ok(); // stock moves on; the replay still answers the first result

        var again = (await _internal.Reserve(orderId, sku, 4).Ok()).GetRawText();
        Assert.Equal(first, again);
        Assert.Equal(106, await _public.Available(sku));
    }

    [Fact]
    public async Task A_repeat_with_another_sku_or_quantity_is_422_and_changes_nothing()
    {
        var sku = await Stocked(10);
        var other = await Stocked(10);
        var orderId = Guid.NewGuid();
        await _internal.Reserve(orderId, sku, 2).Ok();

        await _internal.Reserve(orderId, sku, 3).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.Reserve(orderId, other, 2).Problem((HttpStatusCode)422, "idempotency_key_reused");
        await _internal.Reserve(orderId, NewSku(), 2).Problem((HttpStatusCode)422, "idempotency_key_reused");
        Assert.Equal(8, await _public.Available(sku));
        Assert.Equal(10, await _public.Available(other));
    }

    [Fact]
    public async Task Insufficient_stock_is_409_and_records_nothing()
    {
        var sku = await Stocked(2);
        var orderId = Guid.NewGuid();
        await _internal.Reserve(orderId, sku, 3).Problem(HttpStatusCode.Conflict, "insufficient_stock");
        Assert.Equal(2, await _public.Available(sku));

        // Nothing was recorded for the order: once there is stock, the same order id reserves normally.
        await _public.Receive(sku, 1).Ok();
        Assert.Equal(0, (await _internal.Reserve(orderId, sku, 3).Ok()).GetProperty("remaining").GetInt64());
    }

    [Fact]
    public async Task An_unknown_item_is_404_unknown_item_and_records_nothing()
    {
        var sku = NewSku();
        var orderId = Guid.NewGuid();
        await _internal.Reserve(orderId, sku, 1).Problem(HttpStatusCode.NotFound, "unknown_item");
        await _public.AssertMissing(sku);

        await _public.Receive(sku, 5).Ok();
        Assert.Equal(4, (await _internal.Reserve(orderId, sku, 1).Ok()).GetProperty("remaining").GetInt64());
    }

    [Fact]
    public async Task Release_gives_the_stock_back_once()
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        await _internal.Reserve(orderId, sku, 4).Ok();
        Assert.Equal(6, await _public.Available(sku));

        var released = await _internal.Release(orderId).Ok();
        Assert.Equal(orderId, released.GetProperty("order_id").GetGuid());
        Assert.Equal("RELEASED", released.GetProperty("status").GetString());
        Assert.Equal(4, released.GetProperty("quantity").GetInt32());
        Assert.Equal(10, await _public.Available(sku));

        var again = await _internal.Release(orderId).Ok();
        Assert.Equal(released.GetRawText(), again.GetRawText());
        Assert.Equal(10, await _public.Available(sku));
    }

    [Fact]
    public async Task Reserve_after_release_is_409_reservation_released()
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        await _internal.Reserve(orderId, sku, 4).Ok();
        await _internal.Release(orderId).Ok();

        await _internal.Reserve(orderId, sku, 4).Problem(HttpStatusCode.Conflict, "reservation_released");
        await _internal.Reserve(orderId, sku, 1).Problem(HttpStatusCode.Conflict, "reservation_released");
        Assert.Equal(10, await _public.Available(sku));
    }

    [Fact]
    public async Task Releasing_an_unknown_order_leaves_a_tombstone_that_refuses_a_late_reserve()
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        var tombstone = await _internal.Release(orderId).Ok();
        Assert.Equal(orderId, tombstone.GetProperty("order_id").GetGuid());
        Assert.Equal("RELEASED", tombstone.GetProperty("status").GetString());
        Assert.Equal(0, tombstone.GetProperty("quantity").GetInt32());

        await _internal.Reserve(orderId, sku, 2).Problem(HttpStatusCode.Conflict, "reservation_released");
        Assert.Equal(10, await _public.Available(sku));
        Assert.Equal(tombstone.GetRawText(), (await _internal.Release(orderId).Ok()).GetRawText());
        Assert.Equal(10, await _public.Available(sku));
    }

    [Theory]
    [InlineData("""{"order_id":"nope","item_sku":"{sku}","quantity":1}""", "order_id")]
    [InlineData("""{"order_id":123,"item_sku":"{sku}","quantity":1}""", "order_id")]
    [InlineData("""{"item_sku":"{sku}","quantity":1}""", "order_id")]
    [InlineData("""{"order_id":"{id}","item_sku":"{sku}","quantity":0}""", "quantity")]
    [InlineData("""{"order_id":"{id}","item_sku":"{sku}","quantity":1000001}""", "quantity")]
    [InlineData("""{"order_id":"{id}","item_sku":"{sku}","quantity":"2"}""", "quantity")]
    [InlineData("""{"order_id":"{id}","item_sku":"{sku}","quantity":1.5}""", "quantity")]
    [InlineData("""{"order_id":"{id}","item_sku":"{sku}"}""", "quantity")]
    [InlineData("""{"order_id":"{id}","item_sku":"bad sku","quantity":1}""", "item_sku")]
    [InlineData("""{"order_id":"{id}","item_sku":7,"quantity":1}""", "item_sku")]
    [InlineData("""{"order_id":"{id}","quantity":1}""", "item_sku")]
    public async Task Reserve_validation_is_400_and_changes_nothing(string template, string field)
    {
        var sku = await Stocked(10);
        var orderId = Guid.NewGuid();
        await _internal.PostJson("/api/v1/stock/reserve", template.Replace("{sku}", sku).Replace("{id}", orderId.ToString())).Invalid(field);
        Assert.Equal(10, await _public.Available(sku));
        // No reservation was recorded for the order id.
        Assert.Equal(9, (await _internal.Reserve(orderId, sku, 1).Ok()).GetProperty("remaining").GetInt64());
    }

    [Theory]
    [InlineData("""{"order_id":"x"}""")]
    [InlineData("""{"order_id":5}""")]
    [InlineData("""{"order_id":null}""")]
    [InlineData("""{}""")]
    public async Task Release_validation_is_400(string body) =>
        await _internal.PostJson("/api/v1/stock/release", body).Invalid("order_id");

    [Theory]
    [InlineData("/api/v1/stock/reserve")]
    [InlineData("/api/v1/stock/release")]
    public async Task Internal_endpoints_reject_bad_bodies_like_the_others(string path)
    {
        await _internal.PostJson(path, "{oops").Problem(HttpStatusCode.BadRequest, "malformed_json");
        await _internal.PostJson(path, "[]").Problem(HttpStatusCode.BadRequest, "malformed_json");
        await _internal.PostAsync(path, new StringContent("""{"order_id":"x"}"""), Ct)
            .Problem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await _internal.PostOversized(path, $$"""{"order_id":"{{Guid.NewGuid()}}","pad":"{{new string('x', 70_000)}}"}""")
            .Problem(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Fact]
    public async Task Reserve_and_release_need_the_service_token()
    {
        var sku = await Stocked(10);
        var reserved = Guid.NewGuid();
        await _internal.Reserve(reserved, sku, 2).Ok();
        var orderId = Guid.NewGuid();

        using var wrong = service.CreateClient();
        wrong.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-token");
        using var basic = service.CreateClient();
        basic.DefaultRequestHeaders.Authorization = new("Basic", Oms.Testing.ServiceHost<StockLevel>.Token);

        foreach (var client in new[] { _public, wrong, basic })
        {
            await client.Reserve(orderId, sku, 1).Problem(HttpStatusCode.Unauthorized, "unauthorized");
            await client.Release(reserved).Problem(HttpStatusCode.Unauthorized, "unauthorized");
            await client.Release(orderId).Problem(HttpStatusCode.Unauthorized, "unauthorized");
            // 401 comes before anything else: even an invalid body is not looked at.
            await client.PostJson("/api/v1/stock/reserve", "{bad").Problem(HttpStatusCode.Unauthorized, "unauthorized");
        }

        Assert.Equal(8, await _public.Available(sku));
        // Nothing was recorded: the order can still reserve, and the reservation is still held.
        Assert.Equal(7, (await _internal.Reserve(orderId, sku, 1).Ok()).GetProperty("remaining").GetInt64());
        Assert.Equal(2, (await _internal.Release(reserved).Ok()).GetProperty("quantity").GetInt32());
    }
}
