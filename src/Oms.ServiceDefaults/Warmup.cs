using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Oms.ServiceDefaults;

/// <summary>
/// Warm-up before readiness (issue 14): a replica that starts under load serves its first seconds with cold code
/// (tier-0 JIT), an empty connection pool and no connection to its dependencies. The warm-up runs the service's own
/// request paths, with requests that write nothing, until the JIT has settled (or <see cref="WarmupOptions.MaxDuration"/>)
/// before <c>/health/ready</c> says ready.
/// </summary>
public sealed class WarmupOptions
{
    public const string Section = "Warmup";

    /// <summary>
    /// Off by default: it holds readiness back (up to <see cref="MaxDuration"/>), which a developer's restart does not need.
    /// Where replicas start under load it pays (docs/benchmarks.md, sittings 16 and 17): deploy/k8s turns it on.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>Times each step runs at least: past the JIT's 30 calls that promote a method from tier 0.</summary>
    [Range(0, 10_000)]
    public int Rounds { get; set; } = 60;

    /// <summary>Rounds in flight at once: enough to open the connection pool's connections, not more.</summary>
    [Range(1, 256)]
    public int Concurrency { get; set; } = 8;

    /// <summary>
    /// After the rounds, more rounds until the JIT has compiled nothing new for this long: tier-1 code is compiled in the
    /// background once a method's calls are counted, and a replica serving load before that runs tier-0 code for seconds.
    /// Zero: the rounds only.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SettleWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest the warm-up holds readiness back: after it the service is ready anyway.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Requests to the service's own public endpoint. They must write nothing: invalid bodies, unknown ids.</summary>
    public List<WarmupRequest> Requests { get; set; } = [];
}

public sealed class WarmupRequest
{
    [Required]
    public string Method { get; set; } = "GET";

    /// <summary>Path and query; <c>{guid}</c> becomes a fresh id on every call (an id that exists nowhere).</summary>
    [Required]
    public string Path { get; set; } = "";

    /// <summary>A JSON body, same placeholder.</summary>
    public string? Body { get; set; }

    /// <summary>Sends the service token, for the internal endpoints (reserve, authorize) that answer 401 without it.</summary>
    public bool ServiceToken { get; set; }
}

/// <summary>One thing the warm-up runs every round; failures are ignored (a warm-up never fails the service).</summary>
public interface IWarmupStep
{
    Task RunAsync(CancellationToken ct);
}

/// <summary>
/// The warm-up's own API key, valid only while the warm-up runs: where API keys are on, the self-requests would otherwise
/// warm nothing but the 401 path. A random secret made at start that never leaves the process (the self-requests go to
/// loopback); it holds every scope, and the requests that use it write nothing.
/// </summary>
public sealed class WarmupCredential(WarmupState state)
{
    public const string KeyName = "warmup";

    public string Secret { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>Until the warm-up is done; refused after.</summary>
    public bool Active => !state.Done;
}

/// <summary>Ready once the warm-up has finished (or ran out of time, or is disabled).</summary>
public sealed class WarmupState
{
    private volatile bool done;

    public bool Done => done;

    internal void Finish() => done = true;
}

internal sealed class WarmupHealthCheck(WarmupState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(state.Done ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("warming up"));
}

/// <summary>Runs the steps once Kestrel listens (the self-requests need it), then marks the service ready.</summary>
internal sealed class WarmupService(
    IEnumerable<IWarmupStep> steps, WarmupState state, IOptions<WarmupOptions> options, IHostApplicationLifetime lifetime,
    ILogger<WarmupService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var all = steps.ToArray();
        if (!o.Enabled || o.Rounds == 0 || all.Length == 0)
        {
            state.Finish();
            return;
        }
        try
        {
            await WhenStartedAsync(stoppingToken);
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            budget.CancelAfter(o.MaxDuration);
            var started = TimeProvider.System.GetTimestamp();
            // A step that fails once is left out of the later rounds: a dependency that is down gets no warmer.
            var failed = new bool[all.Length];
            var rounds = o.Rounds;
            try
            {
                await RunRoundsAsync(all, failed, o.Rounds, o.Concurrency, budget.Token);
                while (o.SettleWindow > TimeSpan.Zero)
                {
                    var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
                    var windowStarted = TimeProvider.System.GetTimestamp();
                    while (TimeProvider.System.GetElapsedTime(windowStarted) < o.SettleWindow)
                    {
                        await RunRoundsAsync(all, failed, o.Concurrency, o.Concurrency, budget.Token);
                        rounds += o.Concurrency;
                    }
                    var now = System.Runtime.JitInfo.GetCompiledMethodCount();
                    logger.LogDebug("Warm-up: {New} methods compiled in the last {Window} ({Total} in all)", now - compiled, o.SettleWindow, now);
                    if (now == compiled) break;
                }
                logger.LogInformation("Warmed up in {Elapsed} ms ({Rounds} rounds of {Steps} steps, {Methods} methods compiled)",
                    (long)TimeProvider.System.GetElapsedTime(started).TotalMilliseconds, rounds, all.Length,
                    System.Runtime.JitInfo.GetCompiledMethodCount());
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Warm-up stopped after {MaxDuration}: ready without it", o.MaxDuration);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            state.Finish();
        }
    }

    private Task RunRoundsAsync(IWarmupStep[] all, bool[] failed, int rounds, int concurrency, CancellationToken ct) =>
        Parallel.ForEachAsync(Enumerable.Range(0, rounds), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (_, token) =>
            {
                for (var i = 0; i < all.Length; i++)
                {
                    if (Volatile.Read(ref failed[i])) continue;
                    try { await all[i].RunAsync(token); }
                    catch (Exception e) when (!token.IsCancellationRequested)
                    {
                        Volatile.Write(ref failed[i], true);
                        logger.LogWarning("Warm-up step {Step} failed, left out: {Message}", all[i].GetType().Name, e.Message);
                    }
                }
            });

    private Task WhenStartedAsync(CancellationToken ct)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        return started.Task.WaitAsync(ct);
    }
}

/// <summary>Sends <see cref="WarmupOptions.Requests"/> to the service's own first listening address.</summary>
internal sealed class SelfRequestsStep : IWarmupStep, IDisposable
{
    private readonly IServer server;
    private readonly WarmupRequest[] requests;
    private readonly string token;
    private readonly HttpClient http = new(new SocketsHttpHandler { UseCookies = false, UseProxy = false });
    private Uri? baseAddress;

    private readonly HashSet<int> internalPorts;

    private readonly string apiKey;

    public SelfRequestsStep(IServer server, IOptions<WarmupOptions> options, IOptions<ServiceTokenOptions> serviceToken, IConfiguration configuration,
        WarmupCredential credential)
    {
        apiKey = credential.Secret;
        this.server = server;
        internalPorts = (configuration[InternalEndpoints.ConfigurationKey] ?? "")
            .Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => Uri.TryCreate(u.Replace("://+", "://localhost").Replace("://*", "://localhost"), UriKind.Absolute, out var uri) ? uri.Port : -1)
            .ToHashSet();
        requests = options.Value.Requests.ToArray();
        token = serviceToken.Value.Token;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        if (requests.Length == 0 || (baseAddress ??= OwnAddress()) is not { } address) return;
        foreach (var r in requests)
        {
            using var message = new HttpRequestMessage(new HttpMethod(r.Method), new Uri(address, Fill(r.Path)));
            if (r.Body is { } body) message.Content = new StringContent(Fill(body), Encoding.UTF8, "application/json");
            message.Headers.Authorization = new("Bearer", r.ServiceToken ? token : apiKey);
            using var response = await http.SendAsync(message, ct);
            await response.Content.LoadIntoBufferAsync(ct);
        }
    }

    public void Dispose() => http.Dispose();

    private static string Fill(string text) => text.Replace("{guid}", Guid.NewGuid().ToString(), StringComparison.Ordinal);

    /// <summary>The first public (HTTP/1.1, not InternalUrls) address; a wildcard host is reached on loopback.</summary>
    private Uri? OwnAddress()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses.Where(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase)))
        {
            var uri = new UriBuilder(address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://[::]", "://localhost"));
            if (internalPorts.Contains(uri.Port)) continue;
            if (uri.Host == "localhost") uri.Host = "127.0.0.1";
            return uri.Uri;
        }
        return null;
    }
}

public static class WarmupExtensions
{
    /// <summary>The warm-up, its readiness check and its self-requests (<c>Warmup</c> in configuration).</summary>
    internal static void AddWarmup(this IServiceCollection services)
    {
        services.AddOptions<WarmupOptions>().BindConfiguration(WarmupOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<WarmupState>();
        services.AddSingleton<WarmupCredential>();
        services.AddSingleton<IWarmupStep, SelfRequestsStep>();
        services.AddHostedService<WarmupService>();
        services.AddHealthChecks().AddCheck<WarmupHealthCheck>("warmup", tags: [ServiceDefaultsExtensions.ReadyTag]);
    }

    /// <summary>One more warm-up step of the service (its dependencies' connections, for example).</summary>
    public static IServiceCollection AddWarmupStep<TStep>(this IServiceCollection services) where TStep : class, IWarmupStep =>
        services.AddSingleton<IWarmupStep, TStep>();
}
