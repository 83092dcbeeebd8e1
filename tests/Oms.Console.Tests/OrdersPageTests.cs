using System.Text.RegularExpressions;

namespace Oms.Console.Tests;

/// <summary>The Orders pages in a real browser: an order placed through the API is in the list, its timeline is shown,
/// and it can be cancelled from the page (with a confirmation), giving its stock back.</summary>
public sealed class OrdersPageTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    private const decimal Affordable = 100m;
    /// <summary>Over the payment service's limit: the order is declined and FAILED.</summary>
    private const decimal Declined = 1500m;

    [Fact]
    public async Task An_order_placed_through_the_API_is_in_the_list_newest_first_and_under_its_sku_filter()
    {
        var sku = ConsoleFixture.NewSku("LIST");
        var otherSku = ConsoleFixture.NewSku("OTHER");
        await fixture.ReceiveStockAsync(sku, 10);
        await fixture.ReceiveStockAsync(otherSku, 10);
        var other = await fixture.PlaceAsync(otherSku, 1, Affordable);
        var order = await fixture.PlaceAsync(sku, 2, Affordable);
        Assert.Equal("CONFIRMED", order.Status);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/orders");
        await Expect(page).ToHaveTitleAsync("Orders – OMS console");
        var table = page.GetByRole(AriaRole.Table, new() { Name = "Orders" });
        // Newest first: the order just placed is the first row of the body.
        await Expect(table.GetByRole(AriaRole.Row).Nth(1)).ToContainTextAsync(order.Id);
        await Expect(table.GetByRole(AriaRole.Link, new() { Name = other.Id })).ToBeVisibleAsync();

        // The SKU filter, as an operator uses it: type the SKU, apply.
        var filter = page.GetByRole(AriaRole.Search, new() { Name = "Filter orders" });
        await filter.GetByLabel("SKU").FillAsync(sku);
        await filter.GetByRole(AriaRole.Button, new() { Name = "Apply filters" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"sku={sku}"));
        var row = table.GetByRole(AriaRole.Row).Filter(new() { Has = page.GetByRole(AriaRole.Link, new() { Name = order.Id }) });
        await Expect(row).ToContainTextAsync("CONFIRMED");
        await Expect(row).ToContainTextAsync(sku);
        await Expect(table.GetByRole(AriaRole.Link, new() { Name = other.Id })).ToHaveCountAsync(0);

        // And by status, keeping the SKU: a declined order of the same SKU, then only FAILED ones.
        var declined = await fixture.PlaceAsync(sku, 1, Declined);
        await filter.GetByLabel("Status").SelectOptionAsync("FAILED");
        await filter.GetByRole(AriaRole.Button, new() { Name = "Apply filters" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("status=FAILED"));
        await Expect(table.GetByRole(AriaRole.Link, new() { Name = declined.Id })).ToBeVisibleAsync();
        await Expect(table.GetByRole(AriaRole.Link, new() { Name = order.Id })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_order_detail_shows_its_lines_and_its_timeline()
    {
        var sku = ConsoleFixture.NewSku("TIME");
        await fixture.ReceiveStockAsync(sku, 10);
        var order = await fixture.PlaceAsync(sku, 3, Affordable);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, $"/orders?sku={sku}");
        await page.GetByRole(AriaRole.Link, new() { Name = order.Id }).ClickAsync();

        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync($"Order {order.Id}");
        await Expect(page.GetByTestId("order-status")).ToHaveTextAsync("CONFIRMED");
        await Expect(page.GetByText(order.IdempotencyKey)).ToBeVisibleAsync();
        var lines = page.GetByRole(AriaRole.Table, new() { Name = "Lines" });
        await Expect(lines.GetByRole(AriaRole.Row).Filter(new() { HasText = sku })).ToContainTextAsync("3");
        // The timeline, oldest first, as GET /api/v1/orders/{id}/events has it.
        var events = page.GetByRole(AriaRole.Table, new() { Name = "Timeline" }).GetByRole(AriaRole.Row);
        await Expect(events.Nth(1)).ToContainTextAsync("order.created");
        await Expect(events.Last).ToContainTextAsync("order.confirmed");
        await Expect(events.Filter(new() { HasText = "order.payment_authorized" })).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task Cancelling_from_the_page_after_confirming_shows_CANCELLED_and_gives_the_stock_back()
    {
        var sku = ConsoleFixture.NewSku("CANCEL");
        await fixture.ReceiveStockAsync(sku, 10);
        var order = await fixture.PlaceAsync(sku, 4, Affordable);
        Assert.Equal(6, await fixture.AvailableAsync(sku));

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, $"/orders/{order.Id}");
        await Expect(page.GetByTestId("order-status")).ToHaveTextAsync("CONFIRMED");

        // "No, keep it" changes nothing.
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel this order?" });
        await dialog.GetByRole(AriaRole.Button, new() { Name = "No, keep it" }).ClickAsync();
        await Expect(dialog).ToBeHiddenAsync();
        Assert.Equal("CONFIRMED", await fixture.StatusAsync(order.Id));

        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" }).ClickAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Yes, cancel" }).ClickAsync();

        await Expect(page.GetByTestId("order-status")).ToHaveTextAsync("CANCELLED");
        var events = page.GetByRole(AriaRole.Table, new() { Name = "Timeline" }).GetByRole(AriaRole.Row);
        await Expect(events.Filter(new() { HasText = "order.cancelled" })).ToHaveCountAsync(1);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" })).ToBeDisabledAsync();

        // The stock is back, through the API and on the Stock page.
        Assert.Equal("CANCELLED", await fixture.StatusAsync(order.Id));
        Assert.Equal(10, await fixture.AvailableAsync(sku));
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Stock" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Stock");
        await Expect(StockRow(page, sku)).ToContainTextAsync("10");
    }

    [Fact]
    public async Task The_cancel_button_is_disabled_for_a_FAILED_order_and_the_reason_is_in_words()
    {
        var sku = ConsoleFixture.NewSku("FAIL");
        await fixture.ReceiveStockAsync(sku, 10);
        var order = await fixture.PlaceAsync(sku, 1, Declined);
        Assert.Equal("FAILED", order.Status);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, $"/orders/{order.Id}");
        await Expect(page.GetByTestId("order-status")).ToHaveTextAsync("FAILED");
        // The reason in words, the API's code after it.
        await Expect(page.GetByTestId("failure-reason")).ToHaveTextAsync("The payment was declined (PAYMENT_DECLINED)");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" })).ToBeDisabledAsync();
        Assert.Equal(10, await fixture.AvailableAsync(sku));
    }

    /// <summary>The Stock table's row for one SKU (the SKU cell matched exactly, not as a prefix of another).</summary>
    internal static ILocator StockRow(IPage page, string sku) =>
        page.GetByRole(AriaRole.Table, new() { Name = "Stock" }).GetByRole(AriaRole.Row)
            .Filter(new() { Has = page.GetByRole(AriaRole.Cell, new() { Name = sku, Exact = true }) });
}
