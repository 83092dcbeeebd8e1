using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Oms.ServiceDefaults;
using Payments.Api;

namespace Payments.Api.Tests;

/// <summary>Warm-up before readiness (Oms.ServiceDefaults' Warmup), on the payment service: the simplest of the three.</summary>
public sealed class WarmupTests(PostgresServer postgres)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>A warm-up step that holds until the test lets it go.</summary>
    private sealed class GateStep : IWarmupStep
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task RunAsync(CancellationToken ct) => Release.Task.WaitAsync(ct);
    }

    [Fact]
    public async Task Not_ready_until_the_warm_up_has_run()
    {
        var gate = new GateStep();
        await using var host = await StartAsync(new() { ["Warmup:Enabled"] = "true", ["Warmup:Rounds"] = "1" },
            s => s.AddSingleton<IWarmupStep>(gate));
        using var client = host.CreateClient();

        using (var live = await client.GetAsync("/health/live", Http.Ct)) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using (var warming = await client.GetAsync("/health/ready", Http.Ct)) Assert.Equal(HttpStatusCode.ServiceUnavailable, warming.StatusCode);

        gate.Release.SetResult();
        await Eventually.UntilAsync(async () =>
        {
            using var ready = await client.GetAsync("/health/ready", Http.Ct);
            return ready.StatusCode == HttpStatusCode.OK;
        }, Deadline, "/health/ready to answer 200 once the warm-up is done");
    }

    [Fact]
    public async Task The_configured_warm_up_exercises_the_endpoints_and_writes_nothing()
    {
        const int rounds = 40;
        var database = await postgres.CreateServiceDatabaseAsync("payments");
        await using var host = await StartAsync(new() { ["Warmup:Enabled"] = "true", ["Warmup:Rounds"] = rounds.ToString() }, database: database);
        var state = host.Services.GetRequiredService<WarmupState>();
        await Eventually.UntilAsync(() => Task.FromResult(state.Done), Deadline, "the warm-up to finish");

        using var client = host.CreateClient();
        using (var ready = await client.GetAsync("/health/ready", Http.Ct)) Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        // appsettings.json's requests: an authorize with an invalid amount (4xx) and reads of unknown ids (404).
        var metrics = await client.GetStringAsync("/metrics", Http.Ct);
        var authorizeCounts = metrics.Split('\n').Where(l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal)
            && l.Contains("http_route=\"/api/v1/payments/authorize\"") && l.Contains("http_response_status_code=\"4")).ToArray();
        Assert.True(authorizeCounts.Sum(l => long.Parse(l.Split(' ')[^1])) >= rounds,
            $"{rounds} rejected authorizes expected in the metrics: {string.Join(" | ", metrics.Split('\n').Where(l => l.Contains("authorize")).Take(5))}");
        Assert.Equal(0, await TestDb.ScalarAsync<long>(database.Admin, "SELECT count(*) FROM payments"));
    }

    [Fact]
    public async Task The_warm_up_goes_on_past_its_rounds_until_the_JIT_has_settled()
    {
        // One round cannot settle anything: the first rounds compile the endpoints' code, so at least one more window runs.
        await using var host = await StartAsync(new()
        {
            ["Warmup:Enabled"] = "true", ["Warmup:Rounds"] = "1", ["Warmup:Concurrency"] = "1", ["Warmup:SettleWindow"] = "00:00:00.200",
        });
        var state = host.Services.GetRequiredService<WarmupState>();
        await Eventually.UntilAsync(() => Task.FromResult(state.Done), Deadline, "the warm-up to finish");

        using var client = host.CreateClient();
        var metrics = await client.GetStringAsync("/metrics", Http.Ct);
        var authorizes = metrics.Split('\n').Where(l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal)
            && l.Contains("http_route=\"/api/v1/payments/authorize\"")).Sum(l => long.Parse(l.Split(' ')[^1]));
        Assert.True(authorizes > 1, $"more than the one round's authorize expected, got {authorizes}");
    }

    [Fact]
    public async Task Where_API_keys_are_on_the_warm_up_reaches_the_handlers_with_a_key_of_its_own_that_ends_with_it()
    {
        const int rounds = 40;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("a-configured-key"u8));
        await using var host = await StartAsync(new()
        {
            ["Warmup:Enabled"] = "true", ["Warmup:Rounds"] = rounds.ToString(),
            ["Auth:ApiKeys:0:Name"] = "shop", ["Auth:ApiKeys:0:Hash"] = hash, ["Auth:ApiKeys:0:Scopes:0"] = "payments:read",
        });
        var state = host.Services.GetRequiredService<WarmupState>();
        await Eventually.UntilAsync(() => Task.FromResult(state.Done), Deadline, "the warm-up to finish");

        using var client = host.CreateClient();
        var metrics = await client.GetStringAsync("/metrics", Http.Ct);
        long Reads(string status) => metrics.Split('\n').Where(l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal)
            && l.Contains("http_route=\"/api/v1/payments/{order_id}\"") && l.Contains($"http_response_status_code=\"{status}\"")).Sum(l => long.Parse(l.Split(' ')[^1]));
        // The handler answered (404: an id that exists nowhere), not the API key check (401).
        Assert.True(Reads("404") >= rounds, $"{rounds} reads answered 404 expected, got {Reads("404")} (401: {Reads("401")})");
        Assert.Equal(0, Reads("401"));

        // Once the warm-up is done its key is refused like any unknown one.
        var secret = host.Services.GetRequiredService<WarmupCredential>().Secret;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/payments/{Guid.NewGuid()}") { Headers = { Authorization = new("Bearer", secret) } };
        using var after = await client.SendAsync(request, Http.Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    private async Task<ServiceHost<AuthorizeRequest>> StartAsync(Dictionary<string, string?> settings, Action<IServiceCollection>? services = null,
        ServiceDatabase? database = null)
    {
        database ??= await postgres.CreateServiceDatabaseAsync("payments");
        foreach (var (key, value) in database.Settings("payments")) settings.TryAdd(key, value);
        var host = new ServiceHost<AuthorizeRequest>(settings, b => { if (services is not null) b.ConfigureServices(services); });
        host.Start();
        return host;
    }
}
