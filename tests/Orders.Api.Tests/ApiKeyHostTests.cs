using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Oms.ServiceDefaults;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>One service at a time with API key and rate limit settings: the limits, the startup checks, the logs.</summary>
public sealed class ApiKeyHostTests(PostgresServer pg)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private async Task<(ServiceHost<InventoryEntry> Host, CapturedLogs Logs)> StartInventoryAsync(Dictionary<string, string?> settings)
    {
        foreach (var (key, value) in (await pg.CreateServiceDatabaseAsync("inventory")).Settings("inventory")) settings[key] = value;
        settings["Logging:LogLevel:Default"] = "Trace";
        var logs = new CapturedLogs();
        var host = new ServiceHost<InventoryEntry>(settings, b => b.ConfigureLogging(l => l.AddProvider(logs)));
        host.Start();
        return (host, logs);
    }

    /// <summary>
    /// Sends the request in rounds of several at once until one answers 429 (or the deadline passes) and returns that
    /// answer: requests at once outrun a limit of 1 per second however slow the machine is.
    /// </summary>
    private static async Task<HttpResponseMessage> UntilLimitedAsync(HttpClient client, string? secret)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var round = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ =>
                ApiKeys.SendAsync(client, HttpMethod.Get, "/api/v1/stock?limit=1", null, secret)));
            var limited = round.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            foreach (var response in round.Where(r => r != limited))
            {
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode}");
                response.Dispose();
            }
            if (limited is not null) return limited;
            Assert.True(DateTime.UtcNow < deadline, "no 429 before the deadline");
        }
    }

    [Fact]
    public async Task A_rate_limit_per_api_key_answers_429_with_Retry_After_and_leaves_other_keys_and_endpoints_alone()
    {
        var (a, b, unknown) = (ApiKeys.NewSecret(), ApiKeys.NewSecret(), ApiKeys.NewSecret());
        var settings = ApiKeys.Settings(("a", a, Scopes.StockRead), ("b", b, Scopes.StockRead));
        settings["RateLimit:PermitsPerSecond"] = "1";
        settings["RateLimit:Burst"] = "1";
        var (host, logs) = await StartInventoryAsync(settings);
        await using var _ = host;
        var client = host.CreateClient();

        using (var refused = await ApiKeys.SendAsync(client, HttpMethod.Get, "/api/v1/stock", null, unknown))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        using var limited = await UntilLimitedAsync(client, a);
        await ProblemAssert.IsProblemAsync(limited, HttpStatusCode.TooManyRequests, Problems.RateLimited);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");

        // Key b has its own bucket, still full.
        using (var other = await ApiKeys.SendAsync(client, HttpMethod.Get, "/api/v1/stock?limit=1", null, b))
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);

        // Health and the internal endpoints are never limited: more requests than the limit allows, all answered.
        var internalClient = host.CreateInternalClient();
        for (var i = 0; i < 20; i++)
        {
            using (var health = await client.GetAsync("/health/live", TestContext.Current.CancellationToken))
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            using var release = await internalClient.PostAsync("/api/v1/stock/release",
                new StringContent($$"""{"order_id":"{{Guid.NewGuid()}}"}""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, release.StatusCode);
        }

        // Secrets never appear in the logs (everything down to Trace was captured).
        Assert.NotEmpty(logs.Messages);
        foreach (var secret in new[] { a, b, unknown, ServiceHost<InventoryEntry>.Token })
            Assert.DoesNotContain(logs.Messages, m => m.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_keys_the_endpoints_are_open_with_a_warning_and_the_rate_limit_is_per_client_address()
    {
        var (host, logs) = await StartInventoryAsync(new() { ["RateLimit:PermitsPerSecond"] = "1", ["RateLimit:Burst"] = "1" });
        await using var _ = host;
        Assert.Contains(logs.Messages, m => m.Contains("No API keys are configured", StringComparison.Ordinal));

        using var limited = await UntilLimitedAsync(host.CreateClient(), secret: null);
        await ProblemAssert.IsProblemAsync(limited, HttpStatusCode.TooManyRequests, Problems.RateLimited);
        Assert.NotNull(limited.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task With_keys_there_is_no_open_endpoint_warning()
    {
        var (host, logs) = await StartInventoryAsync(ApiKeys.Settings(("a", ApiKeys.NewSecret(), Scopes.StockRead)));
        await using var _ = host;
        Assert.DoesNotContain(logs.Messages, m => m.Contains("No API keys are configured", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string> BadSettings() => new()
    {
        { "Auth:ApiKeys:0:Hash", Hashed("k").ToUpperInvariant(), "Auth:ApiKeys:0:Hash must be 64 lowercase hex characters" },
        { "Auth:ApiKeys:0:Hash", "abc123", "Auth:ApiKeys:0:Hash must be 64 lowercase hex characters" },
        { "Auth:ApiKeys:0:Scopes:0", "orders:read orders:delete", "unknown scope 'orders:delete'" },
        { "Auth:ApiKeys:0:Scopes:0", " ", "Auth:ApiKeys:0:Scopes is empty" },
        { "Auth:ApiKeys:0:Name", "a b", "Auth:ApiKeys:0:Name must be" },
        { "Auth:ApiKeys:1:Name", "first", "Name 'first' is given twice" },
        { "Auth:ApiKeys:1:Hash", Hashed("k"), "Auth:ApiKeys:1:Hash is the same as another key's" },
        { "RateLimit:PermitsPerSecond", "0", "PermitsPerSecond" },
        { "RateLimit:Burst", "-1", "Burst" },
        { "RateLimit:Burst", "10", "RateLimit:Burst is set without RateLimit:PermitsPerSecond" },
    };

    private static string Hashed(string secret) => ApiKeys.Hash(secret);

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void A_bad_setting_stops_the_service_at_start_with_a_clear_message(string key, string value, string expected)
    {
        var settings = ApiKeys.Settings(("first", "k", Scopes.StockRead), ("second", "k2", Scopes.StockWrite));
        settings[key] = value;
        // Never reached: the options are checked before the database is.
        settings["ConnectionStrings:inventory"] = "Host=127.0.0.1;Port=1;Username=nobody;Database=nothing";
        using var host = new ServiceHost<InventoryEntry>(settings);
        var error = Assert.ThrowsAny<Exception>(() => host.Start());
        var messages = Flatten(error).Select(e => e.Message).ToList();
        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal));
        Assert.Contains(Flatten(error), e => e is OptionsValidationException);
        // The configured hashes identify keys: not echoed.
        Assert.DoesNotContain(messages, m => m.Contains(Hashed("k"), StringComparison.OrdinalIgnoreCase));
    }

    private static IEnumerable<Exception> Flatten(Exception e) =>
        e is AggregateException a ? [e, .. a.InnerExceptions.SelectMany(Flatten)]
        : e.InnerException is { } inner ? [e, .. Flatten(inner)] : [e];

    /// <summary>Every /api endpoint of every service says which caller it takes: an API key scope or the service token.</summary>
    [Fact]
    public async Task Every_api_endpoint_requires_a_scope_or_the_service_token()
    {
        var hosts = new List<IAsyncDisposable>();
        try
        {
            async Task<Dictionary<string, string?>> DatabaseSettings(string service) =>
                (await pg.CreateServiceDatabaseAsync(service)).Settings(service).ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
            var inventory = new ServiceHost<InventoryEntry>(await DatabaseSettings("inventory"));
            var payments = new ServiceHost<PaymentsEntry>(await DatabaseSettings("payments"));
            var orders = new ServiceHost<SagaOptions>(await DatabaseSettings("orders"));
            hosts.AddRange([inventory, payments, orders]);
            var scoped = new List<string>();
            foreach (var services in new[] { Started(inventory), Started(payments), Started(orders) })
                foreach (var endpoint in services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
                             .Where(e => e.RoutePattern.RawText?.StartsWith("/api/", StringComparison.Ordinal) == true))
                {
                    var scope = endpoint.Metadata.GetMetadata<RequiredScope>();
                    var isInternal = endpoint.Metadata.GetMetadata<InternalEndpoint>() is not null;
                    Assert.True(scope is not null ^ isInternal, $"{endpoint.DisplayName}: scope {scope?.Scope ?? "none"}, internal {isInternal}");
                    if (scope is not null) scoped.Add(scope.Scope);
                }
            // Every scope is used, and the eight public endpoints of today are all there.
            Assert.Equal(Scopes.All.Order(), scoped.Distinct().Order());
            Assert.True(scoped.Count >= 8, $"{scoped.Count} public endpoints");
        }
        finally
        {
            foreach (var host in hosts) await host.DisposeAsync();
        }
    }

    private static IServiceProvider Started<T>(ServiceHost<T> host) where T : class
    {
        host.Start();
        return host.Services;
    }
}

/// <summary>Every message a service logs, for assertions on what it says (and never says).</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _messages = new();

    public IReadOnlyCollection<string> Messages => _messages;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._messages.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
