using System.Net;
using System.Text.Json;
using Inventory.Api;
using Npgsql;
using Oms.Testing;

[assembly: AssemblyFixture(typeof(PostgresServer))]

namespace Inventory.Api.Tests;

/// <summary>One Inventory.Api on real Kestrel over its own fresh database (one per test class).</summary>
public class InventoryService(PostgresServer postgres) : IAsyncLifetime
{
    private ServiceHost<StockLevel>? _host;

    /// <summary>Superuser connection string to the service's database, for the tests' own checks.</summary>
    public string ConnectionString { get; private set; } = "";
    public ServiceDatabase Database { get; private set; } = null!;

    /// <summary>A client without the service token (public endpoints).</summary>
    public HttpClient Client { get; private set; } = null!;

    /// <summary>A client carrying the service token (internal endpoints).</summary>
    public HttpClient Internal { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Database = (await postgres.CreateServiceDatabaseAsync("inventory")).WithRuntime(b => b.MaxPoolSize = 50);
        ConnectionString = new NpgsqlConnectionStringBuilder(Database.Admin) { MaxPoolSize = 50 }.ConnectionString;
        _host = new ServiceHost<StockLevel>(Database.Settings("inventory").ToDictionary(kv => kv.Key, kv => (string?)kv.Value));
        _host.Start();
        Client = _host.CreateClient();
        Internal = _host.CreateInternalClient();
        await SeedAsync();
    }

    /// <summary>Data a test class needs before its first test.</summary>
    protected virtual Task SeedAsync() => Task.CompletedTask;

    public HttpClient CreateClient() => _host!.CreateClient();

    public virtual async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        Client?.Dispose();
        Internal?.Dispose();
        if (_host is not null) await _host.DisposeAsync();
    }

    /// <summary>How many items exist (xunit runs one class's tests one at a time, so this is stable within a test).</summary>
    public Task<long> ItemCountAsync() => ScalarAsync<long>("SELECT count(*) FROM items");

    /// <summary>Runs a scalar query straight against the service's database (for checks the API cannot show).</summary>
    public Task<T> ScalarAsync<T>(string sql, params object[] args) => TestDb.ScalarAsync<T>(ConnectionString, sql, args);
}

/// <summary>Inventory's calls; the generic HTTP helpers are <see cref="TestHttp"/>'s, under the names these tests use.</summary>
internal static class Api
{
    public static CancellationToken Ct => TestHttp.Ct;

    public static string NewSku(string prefix = "sku") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 64)];

    public static StringContent Json(string raw) => TestHttp.Json(raw);

    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string path, string raw) => client.PostJsonAsync(path, raw);

    public static Task<HttpResponseMessage> PutJson(this HttpClient client, string path, string raw) => client.PutJsonAsync(path, raw);

    /// <inheritdoc cref="TestHttp.PostOversizedAsync"/>
    public static Task<HttpResponseMessage> PostOversized(this HttpClient client, string path, string raw) => client.PostOversizedAsync(path, raw);

    public static Task<HttpResponseMessage> Receive(this HttpClient client, string sku, long quantity) =>
        client.PostJson("/api/v1/stock/items", $$"""{"item_sku":"{{sku}}","quantity":{{quantity}}}""");

    public static Task<HttpResponseMessage> Reserve(this HttpClient client, Guid orderId, string sku, long quantity) =>
        client.PostJson("/api/v1/stock/reserve", $$"""{"order_id":"{{orderId}}","item_sku":"{{sku}}","quantity":{{quantity}}}""");

    /// <summary>The multi-line form: <c>{order_id, items: [{item_sku, quantity}, …]}</c>, lines in the given order.</summary>
    public static Task<HttpResponseMessage> ReserveLines(this HttpClient client, Guid orderId, params (string Sku, long Quantity)[] lines) =>
        client.PostJson("/api/v1/stock/reserve", $$"""{"order_id":"{{orderId}}","items":{{Items(lines)}}}""");

    /// <summary>A JSON array of lines: <c>[{"item_sku":…,"quantity":…}, …]</c>.</summary>
    public static string Items(params (string Sku, long Quantity)[] lines) =>
        "[" + string.Join(",", lines.Select(l => $$"""{"item_sku":"{{l.Sku}}","quantity":{{l.Quantity}}}""")) + "]";

    public static Task<HttpResponseMessage> Release(this HttpClient client, Guid orderId) =>
        client.PostJson("/api/v1/stock/release", $$"""{"order_id":"{{orderId}}"}""");

    public static async Task<JsonElement> Body(this HttpResponseMessage response) => await response.ReadJsonAsync();

    public static Task<JsonElement> Ok(this Task<HttpResponseMessage> call) => call.ExpectAsync(HttpStatusCode.OK, "application/json");

    /// <summary>Asserts an RFC 9457 problem with the given status and code; returns it.</summary>
    public static Task<JsonElement> Problem(this Task<HttpResponseMessage> call, HttpStatusCode status, string code) =>
        call.ExpectProblemAsync(status, code);

    public static Task<JsonElement> Problem(this HttpResponseMessage response, HttpStatusCode status, string code) =>
        response.ExpectProblemAsync(status, code);

    /// <summary>A 400 validation_failed whose errors name the given field.</summary>
    public static Task<JsonElement> Invalid(this Task<HttpResponseMessage> call, string field) => call.ExpectInvalidAsync(field);

    public static async Task<long> Available(this HttpClient client, string sku) =>
        (await client.GetAsync($"/api/v1/stock/{sku}", Ct).Ok()).GetProperty("quantity").GetInt64();

    public static Task AssertMissing(this HttpClient client, string sku) =>
        client.GetAsync($"/api/v1/stock/{sku}", Ct).Problem(HttpStatusCode.NotFound, "not_found");
}
