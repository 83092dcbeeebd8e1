using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Oms.Testing;
using Orders.Api;

namespace Oms.Console.Tests;

/// <summary>
/// What one test class drives: the three real services on real Kestrel, each with a fresh database on the test
/// PostgreSQL, the console on real Kestrel pointed at their public APIs, and one headless Debian chromium.
/// Each test opens its own browser context (cookies, storage) with <see cref="NewContextAsync"/>.
/// </summary>
public sealed class ConsoleFixture(PostgresServer pg) : IAsyncLifetime
{
    /// <summary>The system browser: Playwright's own browser download cannot work on these machines.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>A laptop screen, the size the console must be readable at.</summary>
    public static readonly ViewportSize Laptop = new() { Width = 1366, Height = 768 };

    /// <summary>How long a browser action or assertion may wait for its condition: generous, since a busy 2-core CI
    /// machine runs several test projects at once; a passing condition returns as soon as it holds.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>How often the Overview re-reads the figures in these tests.</summary>
    private const string RefreshInterval = "00:00:01";

    private readonly List<IAsyncDisposable> _hosts = [];
    private IPlaywright? _playwright;

    public HttpClient Orders { get; private set; } = null!;
    public HttpClient Inventory { get; private set; } = null!;
    /// <summary>The console's base address (http://127.0.0.1:port/).</summary>
    public Uri ConsoleUrl { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        // Each service connects as its runtime role and migrates as its owner role, as in production.
        var ordersDb = await pg.CreateServiceDatabaseAsync("orders");
        var inventoryDb = await pg.CreateServiceDatabaseAsync("inventory");
        var paymentsDb = await pg.CreateServiceDatabaseAsync("payments");

        var inventory = Own(new ServiceHost<InventoryEntry>(Settings(inventoryDb.Settings("inventory"))));
        var payments = Own(new ServiceHost<PaymentsEntry>(Settings(paymentsDb.Settings("payments"))));
        var inventoryUrl = inventory.Start();
        var paymentsUrl = payments.Start();
        var orders = Own(new ServiceHost<SagaOptions>(Settings(ordersDb.Settings("orders"), new()
        {
            ["Saga:InventoryUrl"] = inventoryUrl.ToString(),
            ["Saga:PaymentUrl"] = paymentsUrl.ToString(),
            ["Saga:Http2"] = "false",
            // Generous: these tests prove what the console shows, and a busy machine must not turn a slow answer into a 202.
            ["Saga:RequestBudget"] = "00:00:30",
            ["Saga:AttemptTimeout"] = "00:00:10",
        })));
        var ordersUrl = orders.Start();

        var console = Own(new ServiceHost<ConsoleEntry>(new Dictionary<string, string?>
        {
            ["Services:Orders"] = ordersUrl.GetLeftPart(UriPartial.Authority),
            ["Services:Inventory"] = inventoryUrl.GetLeftPart(UriPartial.Authority),
            ["Services:Payments"] = paymentsUrl.GetLeftPart(UriPartial.Authority),
            ["Console:RefreshInterval"] = RefreshInterval,
        },
        // The "Testing" environment does not serve the build's static web assets (blazor.web.js, MudBlazor's CSS and
        // JS) the way Development does; a published app serves them from its publish folder instead.
        builder => builder.UseStaticWebAssets()));
        ConsoleUrl = console.Start();

        Orders = orders.CreateClient();
        Inventory = inventory.CreateClient();

        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"{ChromiumPath} was not found. Install Debian's chromium (apt-get install chromium; .ci/run does).");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = ChromiumPath, Headless = true });
        SetDefaultExpectTimeout((float)Patience.TotalMilliseconds);
    }

    /// <summary>A fresh browser context (its own cookies and storage) on the console, sized like a laptop screen.</summary>
    public async Task<IBrowserContext> NewContextAsync()
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = ConsoleUrl.ToString(), ViewportSize = Laptop, Locale = "en-GB" });
        context.SetDefaultTimeout((float)Patience.TotalMilliseconds);
        return context;
    }

    public async Task<IPage> OpenAsync(IBrowserContext context, string path)
    {
        var page = await context.NewPageAsync();
        var response = await page.GotoAsync(path);
        Assert.True(response is { Ok: true }, $"GET {path} answered {response?.Status}");
        return page;
    }

    public async Task ReceiveStockAsync(string sku, long quantity)
    {
        using var response = await Inventory.PostAsJsonAsync("/api/v1/stock/items", new { item_sku = sku, quantity }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async Task<long> AvailableAsync(string sku)
    {
        var body = await Inventory.GetFromJsonAsync<JsonObject>($"/api/v1/stock/{sku}", TestContext.Current.CancellationToken);
        return body!["quantity"]!.GetValue<long>();
    }

    /// <summary>Places an order through the public API and returns it as the API answered (201: CONFIRMED or FAILED).</summary>
    public async Task<Order> PlaceAsync(string sku, int quantity, decimal amount)
    {
        using var response = await Orders.PostAsJsonAsync("/api/v1/orders",
            new { item_sku = sku, quantity, amount, idempotency_key = Guid.NewGuid().ToString() }, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        return new Order(body["order_id"]!.GetValue<string>(), body["status"]!.GetValue<string>(), body["idempotency_key"]!.GetValue<string>());
    }

    public async Task<string> StatusAsync(string orderId)
    {
        var body = await Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}", TestContext.Current.CancellationToken);
        return body!["status"]!.GetValue<string>();
    }

    /// <summary>A SKU no other test uses, so tests sharing the fixture's databases do not see each other's stock.</summary>
    public static string NewSku(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8].ToUpperInvariant()}";

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        foreach (var host in Enumerable.Reverse(_hosts)) await host.DisposeAsync();
    }

    private T Own<T>(T host) where T : IAsyncDisposable
    {
        _hosts.Add(host);
        return host;
    }

    private static Dictionary<string, string?> Settings(IEnumerable<KeyValuePair<string, string>> database, Dictionary<string, string?>? more = null)
    {
        var settings = database.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        foreach (var (key, value) in more ?? []) settings[key] = value;
        return settings;
    }
}

public sealed record Order(string Id, string Status, string IdempotencyKey);
