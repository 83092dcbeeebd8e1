using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;

namespace Oms.Console.Tests;

/// <summary>The console for someone without a mouse or without sight: an order can be cancelled with the keyboard alone,
/// every form control has an accessible name, and axe-core (bundled in Deque.AxeCore.Playwright, runs offline) finds no
/// serious or critical violation on the pages.</summary>
public sealed class AccessibilityTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    /// <summary>More Tab presses than any page of the console has focusable elements before the one sought.</summary>
    private const int MaxTabs = 60;

    public static TheoryData<string> Pages => ["/", "/orders", "/stock"];

    [Fact]
    public async Task An_order_can_be_cancelled_with_the_keyboard_alone()
    {
        var sku = ConsoleFixture.NewSku("KEYS");
        await fixture.ReceiveStockAsync(sku, 10);
        var order = await fixture.PlaceAsync(sku, 2, 100m);

        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, $"/orders?sku={sku}");
        // From the list to the order: Tab to its link, Enter.
        await TabToAsync(page, page.GetByRole(AriaRole.Link, new() { Name = order.Id }));
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync($"Order {order.Id}");

        var cancel = page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" });
        await Expect(cancel).ToBeEnabledAsync(); // interactive: the circuit is up
        await TabToAsync(page, cancel);
        await page.Keyboard.PressAsync("Enter");
        var dialog = page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel this order?" });
        await Expect(dialog).ToBeVisibleAsync();
        await TabToAsync(page, dialog.GetByRole(AriaRole.Button, new() { Name = "Yes, cancel" }));
        await page.Keyboard.PressAsync("Enter");

        await Expect(page.GetByTestId("order-status")).ToHaveTextAsync("CANCELLED");
        Assert.Equal("CANCELLED", await fixture.StatusAsync(order.Id));
        Assert.Equal(10, await fixture.AvailableAsync(sku));
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Every_form_control_has_an_accessible_name(string path)
    {
        await fixture.ReceiveStockAsync(ConsoleFixture.NewSku("NAME"), 3);
        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, path);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToBeVisibleAsync();

        var controls = page.Locator("input:not([type=hidden]), select, textarea, button");
        var count = await controls.CountAsync();
        if (path != "/") Assert.True(count > 0, $"{path} has no form controls to check");
        for (var i = 0; i < count; i++)
        {
            var control = controls.Nth(i);
            if (!await control.IsVisibleAsync()) continue;
            await Expect(control).ToHaveAccessibleNameAsync(new System.Text.RegularExpressions.Regex(@"\S"));
        }
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Axe_finds_no_serious_or_critical_violation(string path)
    {
        var sku = ConsoleFixture.NewSku("AXE");
        await fixture.ReceiveStockAsync(sku, 5);
        await fixture.PlaceAsync(sku, 1, 100m);
        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, path);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToBeVisibleAsync();
        await Expect(page.Locator("main")).ToBeVisibleAsync();

        var result = await page.RunAxe();
        var bad = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(bad.Count == 0, $"axe on {path}:\n" + string.Join('\n', bad.Select(Describe)));
    }

    [Fact]
    public async Task Axe_finds_no_serious_or_critical_violation_on_an_order_with_its_dialog_open()
    {
        var sku = ConsoleFixture.NewSku("AXED");
        await fixture.ReceiveStockAsync(sku, 5);
        var order = await fixture.PlaceAsync(sku, 1, 100m);
        await using var context = await fixture.NewContextAsync();
        var page = await fixture.OpenAsync(context, $"/orders/{order.Id}");
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel order" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel this order?" })).ToBeVisibleAsync();

        var result = await page.RunAxe();
        var bad = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(bad.Count == 0, "axe on the order page:\n" + string.Join('\n', bad.Select(Describe)));
    }

    private static string Describe(AxeResultItem violation) =>
        $"{violation.Impact} {violation.Id}: {violation.Help} at {string.Join(", ", violation.Nodes.Take(5).Select(n => n.Target?.ToString()))}";

    /// <summary>Presses Tab until the element has the focus; fails if it never gets it (not reachable by keyboard).</summary>
    private static async Task TabToAsync(IPage page, ILocator target)
    {
        await Expect(target).ToBeVisibleAsync();
        for (var presses = 0; presses < MaxTabs; presses++)
        {
            if (await target.EvaluateAsync<bool>("e => e === document.activeElement")) return;
            await page.Keyboard.PressAsync("Tab");
        }
        Assert.Fail($"{target} did not get the focus after {MaxTabs} presses of Tab");
    }
}
