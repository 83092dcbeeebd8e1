using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Npgsql;
using Oms.Testing;
using Payments.Api;
using Xunit;

[assembly: AssemblyFixture(typeof(PostgresServer))]

namespace Payments.Api.Tests;

/// <summary>Payments.Api on real Kestrel against a fresh database on the test PostgreSQL server.</summary>
public sealed class PaymentsService(PostgresServer postgres) : IAsyncLifetime
{
    private ServiceHost<AuthorizeRequest>? _host;

    /// <summary>Superuser connection string to the service's database, for the tests' own checks.</summary>
    public string ConnectionString { get; private set; } = "";
    public ServiceDatabase Database { get; private set; } = null!;
    public HttpClient Public { get; private set; } = null!;
    public HttpClient Internal { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Database = await postgres.CreateServiceDatabaseAsync("payments");
        ConnectionString = Database.Admin;
        _host = new ServiceHost<AuthorizeRequest>(Database.Settings("payments").ToDictionary(kv => kv.Key, kv => (string?)kv.Value));
        _host.Start();
        Public = _host.CreateClient();
        Internal = _host.CreateInternalClient();
    }

    public HttpClient CreateClient() => _host!.CreateClient();

    public async Task<long> CountRowsAsync(Guid orderId)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM payments WHERE order_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        Public?.Dispose();
        Internal?.Dispose();
        if (_host is not null) await _host.DisposeAsync();
    }
}

internal static class Http
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string json) =>
        client.PostAsync(path, Json(json), Ct);

    public static Task<HttpResponseMessage> AuthorizeAsync(this HttpClient client, Guid orderId, string amount) =>
        client.PostJsonAsync("/api/v1/payments/authorize", $$"""{"order_id":"{{orderId}}","amount":{{amount}}}""");

    public static Task<HttpResponseMessage> VoidAsync(this HttpClient client, Guid orderId) =>
        client.PostJsonAsync("/api/v1/payments/void", $$"""{"order_id":"{{orderId}}"}""");

    public static Task<HttpResponseMessage> GetPaymentAsync(this HttpClient client, Guid orderId) =>
        client.GetAsync($"/api/v1/payments/{orderId}", Ct);

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts the status and returns the body.</summary>
    public static async Task<JsonElement> ExpectAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts a problem+json answer with the given status and code; returns it.</summary>
    public static Task<JsonElement> ExpectProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string code) =>
        ProblemAssert.IsProblemAsync(response, status, code);

    public static MediaTypeHeaderValue? MediaType(this HttpResponseMessage response) => response.Content.Headers.ContentType;
}
