namespace Oms.Console.Tests;

/// <summary>The Stock page in a real browser: receiving and correcting stock from the page, and a bad value answered by the API's own
/// message next to the field, writing nothing.</summary>
public sealed class StockPageTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task Receiving_stock_from_the_page_adds_it_and_the_table_shows_it()
    {
        var sku = ConsoleFixture.NewSku("RECV");
        await fixture.ReceiveStockAsync(sku, 5);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/stock");
        await Expect(page).ToHaveTitleAsync("Stock – OMS console");
        await Expect(OrdersPageTests.StockRow(page, sku)).ToContainTextAsync("5");

        var receive = page.GetByRole(AriaRole.Form, new() { Name = "Receive stock" });
        await receive.GetByLabel("SKU").FillAsync(sku);
        await receive.GetByLabel("Quantity").FillAsync("7");
        await receive.GetByRole(AriaRole.Button, new() { Name = "Receive" }).ClickAsync();

        await Expect(page.GetByTestId("stock-result")).ToContainTextAsync(sku);
        await Expect(OrdersPageTests.StockRow(page, sku)).ToContainTextAsync("12");
        Assert.Equal(12, await fixture.AvailableAsync(sku));
    }

    [Fact]
    public async Task Correcting_stock_from_the_page_sets_the_counted_quantity()
    {
        var sku = ConsoleFixture.NewSku("CORR");
        await fixture.ReceiveStockAsync(sku, 9);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/stock");
        var available = OrdersPageTests.StockRow(page, sku).GetByRole(AriaRole.Cell).Nth(1);
        await Expect(available).ToHaveTextAsync("9");

        var correct = page.GetByRole(AriaRole.Form, new() { Name = "Correct stock" });
        await correct.GetByLabel("SKU").FillAsync(sku);
        await correct.GetByLabel("Quantity").FillAsync("4");
        await correct.GetByRole(AriaRole.Button, new() { Name = "Correct" }).ClickAsync();

        await Expect(page.GetByTestId("stock-result")).ToContainTextAsync($"{sku} now has 4 available");
        await Expect(available).ToHaveTextAsync("4");
        Assert.Equal(4, await fixture.AvailableAsync(sku));
    }

    [Theory]
    [InlineData("0", "quantity")]
    [InlineData("-3", "quantity")]
    public async Task A_bad_quantity_shows_the_APIs_message_next_to_the_field_and_writes_nothing(string quantity, string field)
    {
        var sku = ConsoleFixture.NewSku("BADQ");
        await fixture.ReceiveStockAsync(sku, 5);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/stock");
        var receive = page.GetByRole(AriaRole.Form, new() { Name = "Receive stock" });
        var input = receive.GetByLabel("Quantity");
        await receive.GetByLabel("SKU").FillAsync(sku);
        await input.FillAsync(quantity);
        await receive.GetByRole(AriaRole.Button, new() { Name = "Receive" }).ClickAsync();

        var message = await ApiMessageAsync(sku, quantity, field);
        var error = page.Locator($"#receive-{field}-error");
        await Expect(error).ToContainTextAsync(message);
        // Next to the field: the input points at the message and is marked invalid, for screen readers too.
        await Expect(input).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(input).ToHaveAttributeAsync("aria-describedby", new System.Text.RegularExpressions.Regex($"receive-{field}-error"));
        await Expect(input).ToHaveAccessibleDescriptionAsync(new System.Text.RegularExpressions.Regex(System.Text.RegularExpressions.Regex.Escape(message)));
        Assert.Equal(5, await fixture.AvailableAsync(sku));
    }

    [Fact]
    public async Task A_bad_sku_shows_the_APIs_message_next_to_the_sku_field()
    {
        // A SKU the API refuses (a space and a '!'); the console leaves the judging to the API.
        const string sku = "bad sku!";
        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/stock");
        var receive = page.GetByRole(AriaRole.Form, new() { Name = "Receive stock" });
        await receive.GetByLabel("SKU").FillAsync(sku);
        await receive.GetByLabel("Quantity").FillAsync("1");
        await receive.GetByRole(AriaRole.Button, new() { Name = "Receive" }).ClickAsync();

        var message = await ApiMessageAsync(sku, "1", "item_sku");
        await Expect(page.Locator("#receive-item_sku-error")).ToContainTextAsync(message);
        await Expect(receive.GetByLabel("SKU")).ToHaveAttributeAsync("aria-invalid", "true");
    }

    /// <summary>What the inventory API itself says about the field for this request: the page must show the same words.</summary>
    private async Task<string> ApiMessageAsync(string sku, string quantity, string field)
    {
        using var content = new StringContent($$"""{"item_sku":"{{sku}}","quantity":{{quantity}}}""", System.Text.Encoding.UTF8, "application/json");
        using var response = await fixture.Inventory.PostAsync("/api/v1/stock/items", content, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        var problem = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        return problem["errors"]![field]![0]!.GetValue<string>();
    }
}
