using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Oms.Testing;
using Orders.Api;

namespace Orders.Api.Tests;

/// <summary>
/// The three real services on real Kestrel, each with its own fresh database on the test PostgreSQL,
/// talking real HTTP over loopback. Optionally a <see cref="FaultProxy"/> sits in front of inventory
/// or payment so a test can make that dependency slow, down or lossy.
/// </summary>
public sealed class OmsSystem : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    public required HttpClient Orders { get; init; }
    public required HttpClient Inventory { get; init; }
    public required HttpClient InventoryInternal { get; init; }
    public required HttpClient Payments { get; init; }
    public required HttpClient PaymentsInternal { get; init; }
    /// <summary>Superuser connection strings to each service's database, for the tests' own checks.</summary>
    public required string OrdersDb { get; init; }
    public required string InventoryDb { get; init; }
    public required string PaymentsDb { get; init; }
    /// <summary>Each service's database with its runtime and owner roles.</summary>
    public required ServiceDatabase OrdersDatabase { get; init; }
    public required ServiceDatabase InventoryDatabase { get; init; }
    public required ServiceDatabase PaymentsDatabase { get; init; }
    public required IReadOnlyDictionary<string, string?> OrderSettings { get; init; }
    /// <summary>The order service's own services (its saga, store and clients), for tests that drive a step directly.</summary>
    public required IServiceProvider OrderServices { get; init; }
    /// <summary>Inventory's internal HTTP/2-only endpoint, when started with h2c.</summary>
    public Uri? InventoryH2c { get; private init; }
    public FaultProxy? InventoryProxy { get; private init; }
    public FaultProxy? PaymentProxy { get; private init; }

    /// <param name="h2c">
    /// The production wiring: inventory and payments also listen on an internal HTTP/2-only endpoint and the order
    /// service talks h2c to it. Otherwise (and always through a fault proxy) the saga talks HTTP/1.1 to their public endpoints.
    /// </param>
    public static async Task<OmsSystem> StartAsync(PostgresServer pg, bool proxyInventory = false, bool proxyPayment = false,
        IDictionary<string, string?>? orderSettings = null, bool h2c = false, IDictionary<string, string?>? everyServiceSettings = null)
    {
        // Each service connects as its runtime role and migrates as its owner role, as in production.
        var ordersDb = await pg.CreateServiceDatabaseAsync("orders");
        var inventoryDb = await pg.CreateServiceDatabaseAsync("inventory");
        var paymentsDb = await pg.CreateServiceDatabaseAsync("payments");

        var useH2c = h2c && !proxyInventory && !proxyPayment;
        Dictionary<string, string?> Endpoints(string connectionName, ServiceDatabase database, out Uri? internalUrl)
        {
            var settings = new Dictionary<string, string?>(everyServiceSettings ?? new Dictionary<string, string?>());
            foreach (var (key, value) in database.Settings(connectionName)) settings[key] = value;
            internalUrl = null;
            if (useH2c)
            {
                internalUrl = new Uri($"http://127.0.0.1:{PostgresServer.FreePort()}/");
                settings["InternalUrls"] = internalUrl.ToString();
            }
            return settings;
        }
        var inventory = new ServiceHost<InventoryEntry>(Endpoints("inventory", inventoryDb, out var inventoryH2c));
        var payments = new ServiceHost<PaymentsEntry>(Endpoints("payments", paymentsDb, out var paymentH2c));
        var inventoryUrl = inventory.Start();
        var paymentUrl = payments.Start();
        var inventoryProxy = proxyInventory ? await FaultProxy.StartAsync(inventoryUrl) : null;
        var paymentProxy = proxyPayment ? await FaultProxy.StartAsync(paymentUrl) : null;

        var settings = new Dictionary<string, string?>(ordersDb.Settings("orders").Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value)))
        {
            ["Saga:InventoryUrl"] = (inventoryProxy?.Address ?? inventoryH2c ?? inventoryUrl).ToString(),
            ["Saga:PaymentUrl"] = (paymentProxy?.Address ?? paymentH2c ?? paymentUrl).ToString(),
            ["Saga:Http2"] = useH2c ? "true" : "false",
            ["Recovery:PollInterval"] = "00:00:00.200",
            // Generous by default: these tests prove correctness, and a busy 2-core CI machine must not turn
            // a slow answer into a 202. Fault tests set tight budgets explicitly.
            ["Saga:RequestBudget"] = "00:00:30",
            ["Saga:AttemptTimeout"] = "00:00:10",
        };
        foreach (var (key, value) in everyServiceSettings ?? new Dictionary<string, string?>()) settings[key] = value;
        foreach (var (key, value) in orderSettings ?? new Dictionary<string, string?>()) settings[key] = value;
        var orders = new ServiceHost<SagaOptions>(settings);
        orders.Start();

        var system = new OmsSystem
        {
            Orders = orders.CreateClient(),
            Inventory = inventory.CreateClient(),
            InventoryInternal = inventory.CreateInternalClient(),
            Payments = payments.CreateClient(),
            PaymentsInternal = payments.CreateInternalClient(),
            OrdersDb = ordersDb.Admin,
            InventoryDb = inventoryDb.Admin,
            PaymentsDb = paymentsDb.Admin,
            OrdersDatabase = ordersDb,
            InventoryDatabase = inventoryDb,
            PaymentsDatabase = paymentsDb,
            InventoryProxy = inventoryProxy,
            InventoryH2c = inventoryH2c,
            PaymentProxy = paymentProxy,
            OrderSettings = settings,
            OrderServices = orders.Services,
        };
        system._owned.AddRange([orders, inventory, payments]);
        if (inventoryProxy is not null) system._owned.Add(inventoryProxy);
        if (paymentProxy is not null) system._owned.Add(paymentProxy);
        return system;
    }

    /// <summary>Another order-service replica on the same orders database (as a second process would be).</summary>
    public HttpClient StartOrdersReplica(IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>(OrderSettings);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>()) settings[key] = value;
        var replica = new ServiceHost<SagaOptions>(settings);
        replica.Start();
        _owned.Add(replica);
        return replica.CreateClient();
    }

    public async Task ReceiveStockAsync(string sku, long quantity)
    {
        using var response = await Inventory.PostAsJsonAsync("/api/v1/stock/items", new { item_sku = sku, quantity });
        response.EnsureSuccessStatusCode();
    }

    public async Task<long> AvailableAsync(string sku)
    {
        var body = await Inventory.GetFromJsonAsync<JsonObject>($"/api/v1/stock/{sku}");
        return body!["quantity"]!.GetValue<long>();
    }

    public Task<HttpResponseMessage> PlaceAsync(string sku, int quantity, decimal amount, string key) =>
        Orders.PostAsJsonAsync("/api/v1/orders", new { item_sku = sku, quantity, amount, idempotency_key = key });

    public static Task<JsonObject> BodyAsync(HttpResponseMessage response) => response.ReadJsonObjectAsync();

    /// <summary>Runs one scalar query against a service's own database (for invariant checks).</summary>
    public static Task<T> ScalarAsync<T>(string connectionString, string sql, params object[] args) =>
        TestDb.ScalarAsync<T>(connectionString, sql, args);

    /// <summary>Polls until the order is no longer PENDING (the recovery worker's job) or the timeout passes.</summary>
    public async Task<JsonObject> WaitFinalAsync(string orderId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var order = await Orders.GetFromJsonAsync<JsonObject>($"/api/v1/orders/{orderId}");
            if (order!["status"]!.GetValue<string>() != "PENDING" || DateTime.UtcNow > deadline) return order;
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) await owned.DisposeAsync();
    }
}

/// <summary>A fresh system shared by the tests of one class, wired as in production (h2c between the services).</summary>
public sealed class SystemFixture(PostgresServer pg) : IAsyncLifetime
{
    public OmsSystem System { get; private set; } = null!;
    public async ValueTask InitializeAsync() => System = await OmsSystem.StartAsync(pg, h2c: true);
    public async ValueTask DisposeAsync() => await System.DisposeAsync();
}

internal static class Json
{
    public static string Str(this JsonObject o, string name) => o[name]!.GetValue<string>();
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
