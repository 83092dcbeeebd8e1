using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Oms.ServiceDefaults;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>API keys as the services read them from configuration, and requests that carry one.</summary>
internal static class ApiKeys
{
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary><c>Auth:ApiKeys</c> settings; scopes as one space-separated element, as in an environment variable.</summary>
    public static Dictionary<string, string?> Settings(params (string Name, string Secret, string Scopes)[] keys)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < keys.Length; i++)
        {
            settings[$"Auth:ApiKeys:{i}:Name"] = keys[i].Name;
            settings[$"Auth:ApiKeys:{i}:Hash"] = Hash(keys[i].Secret);
            settings[$"Auth:ApiKeys:{i}:Scopes:0"] = keys[i].Scopes;
        }
        return settings;
    }

    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string? json, string? secret)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (secret is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return await client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    public static string OrderJson(string sku, string key, decimal amount = 10m) =>
        $$"""{"item_sku":"{{sku}}","quantity":1,"amount":{{amount}},"idempotency_key":"{{key}}"}""";
}

/// <summary>The three services with API keys configured: one key per scope, one with every scope, and a second full key.</summary>
public sealed class ApiKeySystemFixture(PostgresServer pg) : IAsyncLifetime
{
    public OmsSystem System { get; private set; } = null!;
    public Dictionary<string, string> SecretByScope { get; } = Scopes.All.ToDictionary(s => s, _ => ApiKeys.NewSecret());
    public string All { get; } = ApiKeys.NewSecret();
    public string Other { get; } = ApiKeys.NewSecret();

    public async ValueTask InitializeAsync()
    {
        var everyScope = string.Join(' ', Scopes.All);
        var settings = ApiKeys.Settings([
            .. SecretByScope.Select(kv => (kv.Key.Replace(':', '-'), kv.Value, kv.Key)),
            ("all", All, everyScope),
            ("other", Other, everyScope)]);
        System = await OmsSystem.StartAsync(pg, h2c: true, everyServiceSettings: settings);
    }

    public async ValueTask DisposeAsync() => await System.DisposeAsync();
}

public sealed class ApiKeyTests(ApiKeySystemFixture fixture) : IClassFixture<ApiKeySystemFixture>
{
    private OmsSystem System => fixture.System;

    private static string NewSku() => $"K-{Guid.NewGuid():N}"[..24];

    /// <summary>One public endpoint: the scope it needs and a request that succeeds with it (n: a fresh number per request).</summary>
    private sealed record PublicCall(string Scope, HttpMethod Method, Func<OmsSystem, HttpClient> Service, string Path,
        Func<int, string?> Body, HttpStatusCode Success);

    private async Task<(string Sku, string OrderId, PublicCall[] Calls)> PublicCallsAsync(string keyPrefix)
    {
        var sku = NewSku();
        using (var receive = await ApiKeys.SendAsync(System.Inventory, HttpMethod.Post, "/api/v1/stock/items",
                   $$"""{"item_sku":"{{sku}}","quantity":100}""", fixture.All))
            Assert.Equal(HttpStatusCode.OK, receive.StatusCode);
        using var placed = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, keyPrefix), fixture.All);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var orderId = (await OmsSystem.BodyAsync(placed)).Str("order_id");
        // An order for the cancel to cancel: its unit comes back, so the stock counts below are those without it.
        using var toCancel = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, keyPrefix + ".cancel"), fixture.All);
        Assert.Equal(HttpStatusCode.Created, toCancel.StatusCode);
        var toCancelId = (await OmsSystem.BodyAsync(toCancel)).Str("order_id");
        PublicCall[] calls =
        [
            new(Scopes.OrdersWrite, HttpMethod.Post, s => s.Orders, "/api/v1/orders", n => ApiKeys.OrderJson(sku, $"{keyPrefix}-{n}"), HttpStatusCode.Created),
            new(Scopes.OrdersRead, HttpMethod.Get, s => s.Orders, $"/api/v1/orders/{orderId}", _ => null, HttpStatusCode.OK),
            new(Scopes.OrdersRead, HttpMethod.Get, s => s.Orders, $"/api/v1/orders?item_sku={sku}", _ => null, HttpStatusCode.OK),
            new(Scopes.OrdersRead, HttpMethod.Get, s => s.Orders, $"/api/v1/orders/{orderId}/events", _ => null, HttpStatusCode.OK),
            new(Scopes.OrdersRead, HttpMethod.Get, s => s.Orders, "/api/v1/orders/stats", _ => null, HttpStatusCode.OK),
            new(Scopes.OrdersWrite, HttpMethod.Post, s => s.Orders, $"/api/v1/orders/{toCancelId}/cancel", _ => "{}", HttpStatusCode.OK),
            new(Scopes.StockWrite, HttpMethod.Post, s => s.Inventory, "/api/v1/stock/items", _ => $$"""{"item_sku":"{{sku}}","quantity":1}""", HttpStatusCode.OK),
            new(Scopes.StockWrite, HttpMethod.Put, s => s.Inventory, $"/api/v1/stock/items/{sku}-P", n => $$"""{"quantity":{{n}}}""", HttpStatusCode.OK),
            new(Scopes.StockRead, HttpMethod.Get, s => s.Inventory, $"/api/v1/stock/{sku}", _ => null, HttpStatusCode.OK),
            new(Scopes.StockRead, HttpMethod.Get, s => s.Inventory, "/api/v1/stock?limit=1", _ => null, HttpStatusCode.OK),
            new(Scopes.PaymentsRead, HttpMethod.Get, s => s.Payments, $"/api/v1/payments/{orderId}", _ => null, HttpStatusCode.OK),
        ];
        return (sku, orderId, calls);
    }

    [Fact]
    public async Task Every_public_endpoint_answers_401_without_a_known_key()
    {
        var (_, _, calls) = await PublicCallsAsync($"u-{Guid.NewGuid():N}");
        var n = 0;
        foreach (var call in calls)
        {
            // No header, an unknown key, the service token (not an API key), another scheme, an empty bearer.
            foreach (var authorization in new string?[] { null, "Bearer " + ApiKeys.NewSecret(), "Bearer " + ServiceHost<InventoryEntry>.Token,
                         "Basic " + fixture.All, "Bearer " })
            {
                using var request = new HttpRequestMessage(call.Method, call.Path);
                if (call.Body(++n) is { } json) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
                if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
                using var response = await call.Service(System).SendAsync(request, TestContext.Current.CancellationToken);
                await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, Problems.Unauthorized);
                Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
        }
    }

    [Fact]
    public async Task Each_scope_opens_exactly_its_endpoints_and_a_403_writes_nothing()
    {
        var prefix = $"s-{Guid.NewGuid():N}";
        var (sku, _, calls) = await PublicCallsAsync(prefix);
        var n = 0;
        var lastPut = -1;
        foreach (var call in calls)
            foreach (var (scope, secret) in fixture.SecretByScope)
            {
                var number = ++n;
                using var response = await ApiKeys.SendAsync(call.Service(System), call.Method, call.Path, call.Body(number), secret);
                var what = $"{call.Method} {call.Path} with a key holding only {scope}";
                if (scope == call.Scope)
                {
                    Assert.True(call.Success == response.StatusCode, $"{what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)}");
                    if (call.Method == HttpMethod.Put) lastPut = number;
                }
                else
                {
                    var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, Problems.Forbidden);
                    Assert.Contains(call.Scope, problem.GetProperty("detail").GetString());
                }
            }

        // Only the requests with the right scope wrote: one order (and its reservation of 1), one receive of 1, the PUT's value.
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE idempotency_key LIKE $1", prefix + "-%"));
        Assert.Equal(100 - 2 + 1, await System.AvailableWithKeyAsync(sku, fixture.All));
        Assert.Equal(lastPut, await System.AvailableWithKeyAsync(sku + "-P", fixture.All));
    }

    [Fact]
    public async Task The_internal_endpoints_take_the_service_token_and_no_api_key()
    {
        var orderId = Guid.NewGuid();
        var body = $$"""{"order_id":"{{orderId}}"}""";
        using (var release = await System.InventoryInternal.PostAsync("/api/v1/stock/release",
                   new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, release.StatusCode);
        using (var voided = await System.PaymentsInternal.PostAsync("/api/v1/payments/void",
                   new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken))
            Assert.Equal(HttpStatusCode.OK, voided.StatusCode);

        // An API key with every scope is not the service token.
        foreach (var (client, path) in new[] { (System.Inventory, "/api/v1/stock/reserve"), (System.Inventory, "/api/v1/stock/release"),
                     (System.Payments, "/api/v1/payments/authorize"), (System.Payments, "/api/v1/payments/void") })
        {
            using var response = await ApiKeys.SendAsync(client, HttpMethod.Post, path, body, fixture.All);
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, Problems.Unauthorized);
        }
    }

    [Fact]
    public async Task Health_metrics_and_docs_stay_open()
    {
        foreach (var client in new[] { System.Orders, System.Inventory, System.Payments })
            foreach (var path in new[] { "/health/live", "/health/ready", "/metrics", "/openapi/v1.json", "/docs/index.html" })
            {
                using var response = await client.GetAsync(path, TestContext.Current.CancellationToken);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{client.BaseAddress}{path}: {(int)response.StatusCode}");
            }
    }

    [Fact]
    public async Task The_openapi_documents_name_the_bearer_scheme_and_each_operations_scope()
    {
        var ct = TestContext.Current.CancellationToken;
        var orders = (await System.Orders.GetFromJsonAsync<JsonObject>("/openapi/v1.json", ct))!;
        Assert.Equal("bearer", orders["components"]!["securitySchemes"]!["apiKey"]!["scheme"]!.GetValue<string>());
        Assert.Equal(Scopes.OrdersWrite, orders["paths"]!["/api/v1/orders"]!["post"]!["security"]![0]!["apiKey"]![0]!.GetValue<string>());
        Assert.Equal(Scopes.OrdersRead, orders["paths"]!["/api/v1/orders"]!["get"]!["security"]![0]!["apiKey"]![0]!.GetValue<string>());
        Assert.Equal(Scopes.OrdersRead, orders["paths"]!["/api/v1/orders/stats"]!["get"]!["security"]![0]!["apiKey"]![0]!.GetValue<string>());

        var inventory = (await System.Inventory.GetFromJsonAsync<JsonObject>("/openapi/v1.json", ct))!;
        Assert.Equal(Scopes.StockWrite, inventory["paths"]!["/api/v1/stock/items"]!["post"]!["security"]![0]!["apiKey"]![0]!.GetValue<string>());
        Assert.Null(inventory["paths"]!["/api/v1/stock/reserve"]!["post"]!["security"]);
    }

    [Fact]
    public async Task Idempotency_keys_are_scoped_per_api_key()
    {
        var sku = NewSku();
        using (var receive = await ApiKeys.SendAsync(System.Inventory, HttpMethod.Post, "/api/v1/stock/items",
                   $$"""{"item_sku":"{{sku}}","quantity":10}""", fixture.All))
            Assert.Equal(HttpStatusCode.OK, receive.StatusCode);
        var key = $"key-{Guid.NewGuid():N}";

        using var mine = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, key), fixture.All);
        using var theirs = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, key), fixture.Other);
        Assert.Equal(HttpStatusCode.Created, mine.StatusCode);
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
        var myOrder = (await OmsSystem.BodyAsync(mine)).Str("order_id");
        var theirOrder = (await OmsSystem.BodyAsync(theirs)).Str("order_id");
        Assert.NotEqual(myOrder, theirOrder);

        // A replay finds the caller's own order; another payload under the same key is refused only within the key.
        using var myReplay = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, key), fixture.All);
        Assert.Equal(HttpStatusCode.OK, myReplay.StatusCode);
        Assert.Equal(myOrder, (await OmsSystem.BodyAsync(myReplay)).Str("order_id"));
        using var theirReplay = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, key), fixture.Other);
        Assert.Equal(theirOrder, (await OmsSystem.BodyAsync(theirReplay)).Str("order_id"));
        using var reused = await ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, key, 20m), fixture.Other);
        await ProblemAssert.IsProblemAsync(reused, HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");

        // The same key sent by both at once, through the coalesced insert: still one order each.
        var together = $"key-{Guid.NewGuid():N}";
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            ApiKeys.SendAsync(System.Orders, HttpMethod.Post, "/api/v1/orders", ApiKeys.OrderJson(sku, together), i % 2 == 0 ? fixture.All : fixture.Other)));
        foreach (var answer in answers) answer.Dispose();
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders WHERE idempotency_key = $1", together));
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(System.OrdersDb,
            "SELECT count(DISTINCT api_key_name) FROM orders WHERE idempotency_key = $1 AND api_key_name IN ('all', 'other')", together));
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(System.OrdersDb,
            "SELECT count(*) FROM orders WHERE idempotency_key = $1 AND api_key_name IN ('all', 'other')", key));
    }
}

internal static class ApiKeySystemExtensions
{
    public static async Task<long> AvailableWithKeyAsync(this OmsSystem system, string sku, string secret)
    {
        using var response = await ApiKeys.SendAsync(system.Inventory, HttpMethod.Get, $"/api/v1/stock/{sku}", null, secret);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!["quantity"]!.GetValue<long>();
    }
}
