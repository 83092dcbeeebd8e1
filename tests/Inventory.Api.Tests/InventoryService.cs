using System.Net;
using System.Net.Http.Json;
using System.Text;
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
    public async Task<T> ScalarAsync<T>(string sql, params object[] args)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var a in args) command.Parameters.Add(new NpgsqlParameter { Value = a });
        return (T)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }
}

internal static class Api
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static string NewSku(string prefix = "sku") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 64)];

    public static StringContent Json(string raw) => new(raw, Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string path, string raw) =>
        client.PostAsync(path, Json(raw), Ct);

    public static Task<HttpResponseMessage> PutJson(this HttpClient client, string path, string raw) =>
        client.PutAsync(path, Json(raw), Ct);

    /// <summary>
    /// Posts a body over the limit with its Content-Length and <c>Expect: 100-continue</c>, as careful clients do:
    /// the server answers 413 from the headers alone. Without the Expect header the client may still be sending
    /// when the server answers and closes, and then sees a connection reset instead of the 413 (a TCP race).
    /// </summary>
    public static async Task<HttpResponseMessage> PostOversized(this HttpClient client, string path, string raw)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(raw) };
        request.Headers.ExpectContinue = true;
        return await client.SendAsync(request, Ct);
    }

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

    public static async Task<JsonElement> Body(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

    public static async Task<JsonElement> Ok(this Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Asserts an RFC 9457 problem with the given status and code; returns it.</summary>
    public static async Task<JsonElement> Problem(this Task<HttpResponseMessage> call, HttpStatusCode status, string code)
    {
        using var response = await call;
        return await response.Problem(status, code);
    }

    public static Task<JsonElement> Problem(this HttpResponseMessage response, HttpStatusCode status, string code) =>
        ProblemAssert.IsProblemAsync(response, status, code);

    /// <summary>A 400 validation_failed whose errors name the given field.</summary>
    public static async Task<JsonElement> Invalid(this Task<HttpResponseMessage> call, string field)
    {
        var problem = await call.Problem(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages),
            $"errors should name '{field}': {problem}");
        Assert.True(messages.GetArrayLength() > 0);
        return problem;
    }

    public static async Task<long> Available(this HttpClient client, string sku) =>
        (await client.GetAsync($"/api/v1/stock/{sku}", Ct).Ok()).GetProperty("quantity").GetInt64();

    public static Task AssertMissing(this HttpClient client, string sku) =>
        client.GetAsync($"/api/v1/stock/{sku}", Ct).Problem(HttpStatusCode.NotFound, "not_found");
}
