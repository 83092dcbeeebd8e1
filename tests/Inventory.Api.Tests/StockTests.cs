using System.Net;
using System.Net.Http.Headers;
using System.Text;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Receive, set and get stock, and the wire rules every body-taking endpoint follows.</summary>
public sealed class StockTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _client = service.Client;

    [Fact]
    public async Task Receive_creates_the_item_then_adds_to_it()
    {
        var sku = NewSku();
        var first = await _client.Receive(sku, 10).Ok();
        Assert.Equal(sku, first.GetProperty("item_sku").GetString());
        Assert.Equal(10, first.GetProperty("quantity").GetInt64());

        var second = await _client.Receive(sku, 1_000_000_000).Ok();
        Assert.Equal(1_000_000_010, second.GetProperty("quantity").GetInt64());
        Assert.Equal(1_000_000_010, await _client.Available(sku));
    }

    [Fact]
    public async Task Get_answers_the_item_and_its_quantity()
    {
        var sku = NewSku("Get.Item_x");
        await _client.Receive(sku, 3).Ok();
        var item = await _client.GetAsync($"/api/v1/stock/{sku}", Ct).Ok();
        Assert.Equal(sku, item.GetProperty("item_sku").GetString());
        Assert.Equal(3, item.GetProperty("quantity").GetInt64());
    }

    [Fact]
    public async Task Get_unknown_sku_is_404_not_found() => await _client.AssertMissing(NewSku());

    [Theory]
    [InlineData("bad%20sku")]
    [InlineData("bad!")]
    [InlineData("%C3%A9t%C3%A9")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 65 chars
    public async Task Get_malformed_sku_is_400(string sku) =>
        await _client.GetAsync($"/api/v1/stock/{sku}", Ct).Invalid("sku");

    [Fact]
    public async Task Put_sets_available_creating_the_item_if_new()
    {
        var sku = NewSku();
        var created = await _client.PutJson($"/api/v1/stock/items/{sku}", """{"quantity":7}""").Ok();
        Assert.Equal(sku, created.GetProperty("item_sku").GetString());
        Assert.Equal(7, created.GetProperty("quantity").GetInt64());

        await _client.Receive(sku, 5).Ok();
        var corrected = await _client.PutJson($"/api/v1/stock/items/{sku}", """{"quantity":0}""").Ok();
        Assert.Equal(0, corrected.GetProperty("quantity").GetInt64());
        Assert.Equal(0, await _client.Available(sku));

        await _client.PutJson($"/api/v1/stock/items/{sku}", """{"quantity":1000000000}""").Ok();
        Assert.Equal(1_000_000_000, await _client.Available(sku));
    }

    [Theory]
    [InlineData("""{"item_sku":"{sku}","quantity":0}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":-1}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":1000000001}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":"2"}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":1.5}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":1e3}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":true}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":null}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}","quantity":99999999999999999999999}""", "quantity")]
    [InlineData("""{"item_sku":"{sku}"}""", "quantity")]
    public async Task Receive_with_a_bad_quantity_is_400_and_writes_nothing(string template, string field)
    {
        var existing = NewSku();
        await _client.Receive(existing, 5).Ok();
        await _client.PostJson("/api/v1/stock/items", template.Replace("{sku}", existing)).Invalid(field);
        Assert.Equal(5, await _client.Available(existing));

        var fresh = NewSku();
        await _client.PostJson("/api/v1/stock/items", template.Replace("{sku}", fresh)).Invalid(field);
        await _client.AssertMissing(fresh);
    }

    [Theory]
    [InlineData("""{"item_sku":"","quantity":1}""")]
    [InlineData("""{"item_sku":"has space","quantity":1}""")]
    [InlineData("""{"item_sku":"slash/sku","quantity":1}""")]
    [InlineData("""{"item_sku":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","quantity":1}""")]
    [InlineData("""{"item_sku":5,"quantity":1}""")]
    [InlineData("""{"item_sku":null,"quantity":1}""")]
    [InlineData("""{"quantity":1}""")]
    public async Task Receive_with_a_bad_sku_is_400_and_writes_nothing(string body)
    {
        var before = await service.ItemCountAsync();
        await _client.PostJson("/api/v1/stock/items", body).Invalid("item_sku");
        Assert.Equal(before, await service.ItemCountAsync());
    }

    [Fact]
    public async Task Receive_reports_every_broken_field()
    {
        var problem = await _client.PostJson("/api/v1/stock/items", """{"item_sku":"no good","quantity":"x"}""").Invalid("item_sku");
        Assert.True(problem.GetProperty("errors").TryGetProperty("quantity", out _));
    }

    [Fact]
    public async Task Receive_ignores_unknown_fields()
    {
        var sku = NewSku();
        var body = await _client.PostJson("/api/v1/stock/items", $$$"""{"item_sku":"{{{sku}}}","quantity":4,"note":"x","extra":{"a":[1]}}""").Ok();
        Assert.Equal(4, body.GetProperty("quantity").GetInt64());
    }

    [Theory]
    [InlineData("""{"quantity":-1}""", "quantity")]
    [InlineData("""{"quantity":1000000001}""", "quantity")]
    [InlineData("""{"quantity":"2"}""", "quantity")]
    [InlineData("""{"quantity":1.5}""", "quantity")]
    [InlineData("""{}""", "quantity")]
    public async Task Put_with_a_bad_quantity_is_400_and_changes_nothing(string body, string field)
    {
        var sku = NewSku();
        await _client.Receive(sku, 9).Ok();
        await _client.PutJson($"/api/v1/stock/items/{sku}", body).Invalid(field);
        Assert.Equal(9, await _client.Available(sku));

        var fresh = NewSku();
        await _client.PutJson($"/api/v1/stock/items/{fresh}", body).Invalid(field);
        await _client.AssertMissing(fresh);
    }

    [Fact]
    public async Task Put_with_a_malformed_sku_in_the_path_is_400_and_writes_nothing()
    {
        var before = await service.ItemCountAsync();
        await _client.PutJson("/api/v1/stock/items/not%20valid", """{"quantity":3}""").Invalid("sku");
        await _client.PutJson($"/api/v1/stock/items/{new string('a', 65)}", """{"quantity":3}""").Invalid("sku");
        Assert.Equal(before, await service.ItemCountAsync());
    }

    [Fact]
    public async Task Receiving_past_the_stock_ceiling_is_400_and_changes_nothing()
    {
        var sku = NewSku();
        await _client.Receive(sku, 1).Ok();
        const long nearCeiling = StockApi.MaxAvailable - 5;
        await service.ScalarAsync<int>("WITH u AS (UPDATE items SET available = $1 WHERE sku = $2 RETURNING 1) SELECT count(*)::int FROM u", nearCeiling, sku);

        var problem = await _client.Receive(sku, 6).Invalid("quantity");
        Assert.Contains("maximum", problem.GetProperty("errors").GetProperty("quantity")[0].GetString());
        Assert.Equal(nearCeiling, await _client.Available(sku));

        var atCeiling = await _client.Receive(sku, 5).Ok();
        Assert.Equal(StockApi.MaxAvailable, atCeiling.GetProperty("quantity").GetInt64());
        await _client.Receive(sku, 1).Invalid("quantity");
        Assert.Equal(StockApi.MaxAvailable, await _client.Available(sku));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/xml")]
    [InlineData(null)]
    public async Task A_body_that_is_not_json_is_415(string? mediaType)
    {
        var sku = NewSku();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes($$"""{"item_sku":"{{sku}}","quantity":1}"""));
        if (mediaType is not null) content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        await _client.PostAsync("/api/v1/stock/items", content, Ct).Problem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await _client.PutAsync($"/api/v1/stock/items/{sku}", new StringContent("""{"quantity":1}""", Encoding.UTF8, "text/plain"), Ct)
            .Problem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await _client.AssertMissing(sku);
    }

    [Fact]
    public async Task A_body_over_64_KiB_is_413_with_or_without_content_length()
    {
        var sku = NewSku();
        var big = $$"""{"item_sku":"{{sku}}","quantity":1,"pad":"{{new string('x', 70_000)}}"}""";
        await _client.PostOversized("/api/v1/stock/items", big).Problem(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");

        // Chunked: no Content-Length up front, so the limit is enforced while reading.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/stock/items") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var response = await _client.SendAsync(request, Ct);
        await response.Problem(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");

        await _client.AssertMissing(sku);
    }

    [Fact]
    public async Task A_body_just_under_64_KiB_is_accepted()
    {
        var sku = NewSku();
        var head = "{\"item_sku\":\"" + sku + "\",\"quantity\":2,\"pad\":\"";
        var body = head + new string('x', 64 * 1024 - head.Length - 2) + "\"}";
        Assert.Equal(64 * 1024, Encoding.UTF8.GetByteCount(body));
        Assert.Equal(2, (await _client.PostJson("/api/v1/stock/items", body).Ok()).GetProperty("quantity").GetInt64());
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"item_sku\":\"a\",")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("[1,2]")]
    [InlineData("\"a string\"")]
    [InlineData("42")]
    [InlineData("null")]
    public async Task Unparseable_or_non_object_json_is_400_malformed_json(string body)
    {
        var before = await service.ItemCountAsync();
        await _client.PostJson("/api/v1/stock/items", body).Problem(HttpStatusCode.BadRequest, "malformed_json");
        await _client.PutJson($"/api/v1/stock/items/{NewSku()}", body).Problem(HttpStatusCode.BadRequest, "malformed_json");
        Assert.Equal(before, await service.ItemCountAsync());
    }
}
