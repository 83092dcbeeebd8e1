using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Keyset paging by sku. This class has its own database, so the item set is known exactly.</summary>
public sealed class ListTests(ListTests.Seeded service) : IClassFixture<ListTests.Seeded>
{
    private static readonly string[] Odd = ["A", "a", "_x", "-x", ".x", "0", "Z9", "z.9", "B_b"];
    private readonly HttpClient _client = service.Client;
    private readonly List<string> _expected = service.Skus;

    /// <summary>A fresh database holding exactly these items; each quantity is its sku's length.</summary>
    public sealed class Seeded(Oms.Testing.PostgresServer postgres) : InventoryService(postgres)
    {
        public List<string> Skus { get; private set; } = [];

        protected override async Task SeedAsync()
        {
            var skus = Enumerable.Range(0, 55).Select(i => $"item-{i:D3}").Concat(Odd).ToList();
            foreach (var sku in skus)
                await Client.PutJson($"/api/v1/stock/items/{sku}", $$"""{"quantity":{{sku.Length}}}""").Ok();
            Skus = [.. skus.Order(StringComparer.Ordinal)];
        }
    }

    [Fact]
    public async Task Pages_walk_every_item_once_in_ordinal_sku_order()
    {
        var seen = new List<string>();
        string? after = null;
        var pages = 0;
        do
        {
            var url = "/api/v1/stock?limit=7" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
            var page = await _client.GetAsync(url, Ct).Ok();
            var items = page.GetProperty("items").EnumerateArray().ToList();
            Assert.InRange(items.Count, 1, 7);
            foreach (var item in items)
            {
                var sku = item.GetProperty("item_sku").GetString()!;
                Assert.Equal(sku.Length, item.GetProperty("quantity").GetInt64());
                seen.Add(sku);
            }
            var next = page.GetProperty("next");
            after = next.ValueKind == System.Text.Json.JsonValueKind.Null ? null : next.GetString();
            if (after is not null) Assert.Equal(seen[^1], after);
            pages++;
        } while (after is not null && pages < 100);

        Assert.Equal(_expected, seen);
        Assert.Equal((_expected.Count + 6) / 7, pages);
    }

    [Fact]
    public async Task Default_limit_is_50_and_500_returns_everything()
    {
        var first = await _client.GetAsync("/api/v1/stock", Ct).Ok();
        Assert.Equal(50, first.GetProperty("items").GetArrayLength());
        Assert.Equal(_expected[49], first.GetProperty("next").GetString());

        var all = await _client.GetAsync("/api/v1/stock?limit=500", Ct).Ok();
        Assert.Equal(_expected, all.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_sku").GetString()));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, all.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task An_exactly_full_last_page_has_no_next()
    {
        var page = await _client.GetAsync($"/api/v1/stock?limit={_expected.Count}", Ct).Ok();
        Assert.Equal(_expected.Count, page.GetProperty("items").GetArrayLength());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task After_the_last_sku_is_an_empty_page()
    {
        var page = await _client.GetAsync("/api/v1/stock?after=zzzz", Ct).Ok();
        Assert.Equal(0, page.GetProperty("items").GetArrayLength());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("501")]
    [InlineData("-1")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("")]
    [InlineData("99999999999")]
    public async Task A_bad_limit_is_400(string limit) =>
        await _client.GetAsync($"/api/v1/stock?limit={Uri.EscapeDataString(limit)}", Ct).Invalid("limit");

    [Theory]
    [InlineData("")]
    [InlineData("not a cursor")]
    [InlineData("a/b")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task A_bad_after_is_400(string after) =>
        await _client.GetAsync($"/api/v1/stock?after={Uri.EscapeDataString(after)}", Ct).Invalid("after");
}
