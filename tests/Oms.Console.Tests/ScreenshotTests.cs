namespace Oms.Console.Tests;

/// <summary>
/// The three pages with real data in them, as the README shows them. Always checks that each page renders its data;
/// with <c>OMS_SCREENSHOTS=1</c> it also writes them to docs/console/*.png in the checkout
/// (<c>OMS_SCREENSHOTS=1 dotnet test tests/Oms.Console.Tests -- --filter-class Oms.Console.Tests.ScreenshotTests</c>).
/// </summary>
public sealed class ScreenshotTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    private const string SwitchVariable = "OMS_SCREENSHOTS";

    [Fact]
    public async Task The_three_pages_render_real_data()
    {
        // A morning's worth of a small shop: stock for a few SKUs, orders that confirm, one declined by the payment
        // service, one short of stock, one cancelled.
        string[] skus = ["MUG-BLUE", "MUG-RED", "TEE-M", "TEE-L", "CAP-01"];
        foreach (var (sku, i) in skus.Select((s, i) => (s, i))) await fixture.ReceiveStockAsync(sku, 20 + 15 * i);
        var placed = new List<Order>();
        foreach (var (sku, quantity, amount) in new (string, int, decimal)[]
                 {
                     ("MUG-BLUE", 2, 24.00m), ("TEE-M", 1, 19.90m), ("MUG-RED", 3, 36.00m), ("CAP-01", 1, 15.00m),
                     ("TEE-L", 2, 39.80m), ("MUG-BLUE", 1, 12.00m), ("TEE-M", 4, 79.60m), ("CAP-01", 2, 30.00m),
                     ("TEE-L", 1, 1500.00m), // declined: over the payment service's limit
                     ("MUG-RED", 500, 60.00m), // more than there is
                 })
        {
            placed.Add(await fixture.PlaceAsync(sku, quantity, amount));
        }
        var cancelled = placed[4];
        using (var response = await fixture.Orders.PostAsync($"/api/v1/orders/{cancelled.Id}/cancel", null, TestContext.Current.CancellationToken))
            Assert.True(response.IsSuccessStatusCode);
        var shown = placed[2];

        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();

        await page.GotoAsync("/");
        var chart = page.GetByRole(AriaRole.Figure, new() { Name = "Orders per minute by outcome" });
        // Live (the circuit is up: the prerendered page has no chart bars yet) and drawn: the minute's bar is there.
        await Expect(page.GetByTestId("stats-updated")).ToContainTextAsync("refreshing every");
        await Expect(chart.Locator(".mud-chart-bar:visible").First).ToBeVisibleAsync();
        var failures = page.GetByRole(AriaRole.Table, new() { Name = "Failures by reason" });
        await Expect(failures.GetByRole(AriaRole.Row)).ToHaveCountAsync(3); // header, declined, short of stock
        await SaveAsync(page, "overview");

        await page.GotoAsync("/orders");
        var orders = page.GetByRole(AriaRole.Table, new() { Name = "Orders" });
        await Expect(orders.GetByRole(AriaRole.Link, new() { Name = placed[0].Id })).ToBeVisibleAsync();
        await Expect(orders.GetByRole(AriaRole.Row).Filter(new() { HasText = "CANCELLED" })).ToHaveCountAsync(1);
        await SaveAsync(page, "orders");

        await orders.GetByRole(AriaRole.Link, new() { Name = shown.Id }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Table, new() { Name = "Timeline" }).GetByRole(AriaRole.Row).Last).ToContainTextAsync("order.confirmed");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" })).ToBeEnabledAsync();
        await SaveAsync(page, "order-detail");

        await page.GotoAsync("/stock");
        await Expect(OrdersPageTests.StockRow(page, "MUG-BLUE")).ToContainTextAsync("17");
        await Expect(page.GetByRole(AriaRole.Form, new() { Name = "Receive stock" }).GetByRole(AriaRole.Button, new() { Name = "Receive" })).ToBeEnabledAsync();
        await SaveAsync(page, "stock");
    }

    private static async Task SaveAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable(SwitchVariable) != "1") return;
        var path = Path.Combine(RepositoryRoot(), "docs", "console", name + ".png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Blazor focuses the h1 after a navigation (for screen readers); its focus ring is noise in a picture.
        await page.EvaluateAsync("() => document.activeElement?.blur()");
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        Assert.True(new FileInfo(path).Length > 0, $"{path} is empty");
    }

    /// <summary>The checkout this test was built from: the folder above the output that holds Oms.slnx.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Oms.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"No Oms.slnx above {AppContext.BaseDirectory}");
    }
}
