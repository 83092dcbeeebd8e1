namespace Oms.Console.Tests;

/// <summary>The Overview in a real browser: its figures come from GET /api/v1/orders/stats and follow new orders
/// without a reload (the page re-reads them every Console:RefreshInterval).</summary>
public sealed class OverviewPageTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    /// <summary>Over the payment service's limit: the order is declined and FAILED.</summary>
    private const decimal Declined = 1500m;

    [Fact]
    public async Task The_figures_follow_new_orders_without_a_reload()
    {
        var sku = ConsoleFixture.NewSku("LIVE");
        await fixture.ReceiveStockAsync(sku, 10);
        await fixture.PlaceAsync(sku, 1, Declined);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, "/");
        await Expect(page).ToHaveTitleAsync("Overview – OMS console");
        await Expect(page.GetByRole(AriaRole.Figure, new() { Name = "Orders per minute by outcome" })).ToBeVisibleAsync();
        var declined = page.GetByRole(AriaRole.Table, new() { Name = "Failures by reason" }).GetByRole(AriaRole.Row)
            .Filter(new() { HasText = "The payment was declined" });
        await Expect(declined).ToContainTextAsync("1");

        await fixture.PlaceAsync(sku, 1, Declined);
        await fixture.PlaceAsync(sku, 1, Declined);

        // The same page, not reloaded: the live refresh brings the new count.
        await Expect(declined.GetByRole(AriaRole.Cell).Last).ToHaveTextAsync("3");
        await Expect(page.GetByTestId("pending-count")).ToHaveTextAsync("0");
    }
}
