// The shared HTTP helpers, for every test file of this project.
global using Oms.Testing;
using System.Net.Http.Headers;
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

    public Task<long> CountRowsAsync(Guid orderId) =>
        TestDb.ScalarAsync<long>(ConnectionString, "SELECT count(*) FROM payments WHERE order_id = $1", orderId);

    public async ValueTask DisposeAsync()
    {
        Public?.Dispose();
        Internal?.Dispose();
        if (_host is not null) await _host.DisposeAsync();
    }
}

/// <summary>Payments' calls; the generic HTTP helpers (PostJsonAsync, ReadJsonAsync, ExpectAsync, ExpectProblemAsync) are <see cref="TestHttp"/>'s.</summary>
internal static class Http
{
    public static CancellationToken Ct => TestHttp.Ct;

    public static StringContent Json(string json) => TestHttp.Json(json);

    public static Task<HttpResponseMessage> AuthorizeAsync(this HttpClient client, Guid orderId, string amount) =>
        client.PostJsonAsync("/api/v1/payments/authorize", $$"""{"order_id":"{{orderId}}","amount":{{amount}}}""");

    public static Task<HttpResponseMessage> VoidAsync(this HttpClient client, Guid orderId) =>
        client.PostJsonAsync("/api/v1/payments/void", $$"""{"order_id":"{{orderId}}"}""");

    public static Task<HttpResponseMessage> GetPaymentAsync(this HttpClient client, Guid orderId) =>
        client.GetAsync($"/api/v1/payments/{orderId}", Ct);

    public static MediaTypeHeaderValue? MediaType(this HttpResponseMessage response) => response.Content.Headers.ContentType;
}
