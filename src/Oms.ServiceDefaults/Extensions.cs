using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Oms.ServiceDefaults;

public sealed class TelemetryOptions
{
    /// <summary>Fraction of traces kept when an OTLP endpoint is configured (parent decisions win).</summary>
    [System.ComponentModel.DataAnnotations.Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1.0;
}

public static class ServiceDefaultsExtensions
{
    /// <summary>Health checks with this tag make up /health/ready.</summary>
    public const string ReadyTag = "ready";
    private const string ConnectionStringKey = "oms-connection-string";

    private static string TuneConnectionString(string raw, IHostEnvironment environment)
    {
        var csb = new NpgsqlConnectionStringBuilder(raw);
        // Without these every pooled-connection reuse costs an extra DISCARD ALL round trip,
        // and statements are re-parsed on every call.
        if (!raw.Contains("No Reset On Close", StringComparison.OrdinalIgnoreCase)) csb.NoResetOnClose = true;
        if (!raw.Contains("Max Auto Prepare", StringComparison.OrdinalIgnoreCase)) csb.MaxAutoPrepare = 32;
        if (!raw.Contains("Auto Prepare Min Usages", StringComparison.OrdinalIgnoreCase)) csb.AutoPrepareMinUsages = 2;
        if (!raw.Contains("Application Name", StringComparison.OrdinalIgnoreCase)) csb.ApplicationName = environment.ApplicationName;
        // A few connections per core: PostgreSQL is CPU-bound here, and hundreds of backends fighting over two
        // cores commit fewer orders per second than a small pool that queues (measured in docs/benchmarks.md).
        if (!raw.Contains("Pool Size", StringComparison.OrdinalIgnoreCase) && !raw.Contains("MaxPoolSize", StringComparison.OrdinalIgnoreCase))
            csb.MaxPoolSize = Math.Max(8, 4 * Environment.ProcessorCount);
        return csb.ConnectionString;
    }

    /// <summary>Telemetry, health, problem details, JSON conventions, limits and the service token: the same in all three services.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;

        // The service's own port (DefaultUrls in appsettings.json) unless something else chose one:
        // ASPNETCORE_URLS, URLS, --urls, ASPNETCORE_HTTP_PORTS or Kestrel endpoints always win.
        var configuration = builder.Configuration;
        if (builder is WebApplicationBuilder web && configuration["DefaultUrls"] is { Length: > 0 } defaultUrls
            && string.IsNullOrEmpty(configuration["urls"]) && string.IsNullOrEmpty(configuration["http_ports"])
            && string.IsNullOrEmpty(configuration["https_ports"]) && !configuration.GetSection("Kestrel:Endpoints").Exists())
            web.WebHost.UseUrls(defaultUrls);

        services.AddOptions<ServiceTokenOptions>()
            .Configure<IConfiguration>((o, c) => o.Token = c[ServiceTokenOptions.ConfigurationKey] ?? "")
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TelemetryOptions>().BindConfiguration("Telemetry").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<CoalescingOptions>().BindConfiguration("Coalescing").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ApiKeyRegistry>();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy<(string?, System.Net.IPAddress?), PublicRateLimitPolicy>(RateLimits.PublicPolicy);
        });

        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.DictionaryKeyPolicy = null;
            // Bodies are read by RequestBody, which refuses "100" for a number; the OpenAPI schema says so too.
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>().Configure<IConfiguration>((o, config) =>
        {
            o.AddServerHeader = false;
            // Header bytes outside ASCII are read as Latin-1 (RFC 9110 obs-text) instead of Kestrel refusing the request
            // with a bare 400: the endpoint then judges the value and answers a problem with a code.
            o.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
            o.Limits.MaxRequestBodySize = JsonBody.MaxBytes;
            InternalEndpoints.Configure(o, config);
        });
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
            context.ProblemDetails.Extensions.TryAdd("code", Problems.CodeForStatus(status));
            context.ProblemDetails.Detail ??= context.ProblemDetails.Title;
        });
        services.AddExceptionHandler<KnownExceptionHandler>();
        services.AddOpenApi(o =>
        {
            o.AddSchemaTransformer((schema, context, _) =>
            {
                // Money is a decimal, never a float.
                if (context.JsonTypeInfo.Type == typeof(decimal)) schema.Format = "decimal";
                return Task.CompletedTask;
            });
            o.DescribeApiKeys();
        });

        // Graceful shutdown: on SIGTERM stop accepting, let in-flight requests finish within this bound, exit.
        // Anything still PENDING after that is finished by the order service's recovery worker.
        services.Configure<HostOptions>(o => o.ShutdownTimeout =
            builder.Configuration.GetValue("ShutdownTimeout", TimeSpan.FromSeconds(15)));

        services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        builder.AddOpenTelemetryDefaults();
        return builder;
    }

    /// <summary>
    /// The service's own database: a pooled <see cref="NpgsqlDataSource"/> from <c>ConnectionStrings:{name}</c>,
    /// a readiness check on it, and its DbUp migrations (embedded <c>*.sql</c> in <paramref name="migrationsAssembly"/>) applied at start.
    /// </summary>
    public static TBuilder AddServiceDatabase<TBuilder>(this TBuilder builder, string name, System.Reflection.Assembly migrationsAssembly)
        where TBuilder : IHostApplicationBuilder
    {
        // Resolved lazily so that configuration added after this call (tests, hosts) still counts.
        builder.Services.AddKeyedSingleton<string>(ConnectionStringKey, (sp, _) =>
            TuneConnectionString(sp.GetRequiredService<IConfiguration>().GetConnectionString(name)
                ?? throw new InvalidOperationException($"ConnectionStrings:{name} is not set."), sp.GetRequiredService<IHostEnvironment>()));
        builder.Services.AddSingleton(sp => new NpgsqlDataSourceBuilder(sp.GetRequiredKeyedService<string>(ConnectionStringKey))
            .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
            // No span for a statement whose request is not being traced: nothing would export it, and it is four
            // activities per order. Statements outside any request (the recovery worker) are sampled as usual.
            .ConfigureTracing(t => t.ConfigureCommandFilter(_ => System.Diagnostics.Activity.Current is not { Recorded: false }))
            .Build());
        builder.Services.AddHealthChecks().AddNpgSql(sp => sp.GetRequiredService<NpgsqlDataSource>(),
            name: "database", tags: [ReadyTag], timeout: TimeSpan.FromSeconds(3));
        // Migrations run as the database's owner role (ConnectionStrings:<name>_owner); the service itself runs as a
        // runtime role that cannot change the schema. Without an owner string, a one-role setup still migrates.
        builder.Services.AddSingleton(sp =>
            sp.GetRequiredService<IConfiguration>().GetConnectionString(name + "_owner") is { Length: > 0 } owner
                ? new DatabaseMigrator(owner, migrationsAssembly)
                : new DatabaseMigrator(sp.GetRequiredKeyedService<string>(ConnectionStringKey), migrationsAssembly,
                    $"ConnectionStrings:{name}_owner is not set: migrations run as the runtime role of ConnectionStrings:{name}."));
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // Both after routing (WebApplication adds it first), which tells them the endpoint's scope and policy.
        // Installed only when configured: an open system pays nothing for them.
        if (app.Services.GetRequiredService<ApiKeyRegistry>().Enabled)
            app.UseMiddleware<ApiKeyMiddleware>();
        else
            app.Logger.LogWarning("No API keys are configured ({Section}:ApiKeys): the public endpoints are open to every caller.",
                AuthOptions.Section);
        if (app.Services.GetRequiredService<IOptions<RateLimitOptions>>().Value.PermitsPerSecond is not null)
            app.UseRateLimiter();

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag) });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOpenApi("/openapi/{documentName}.json");
        app.UseSwaggerUI(o =>
        {
            o.RoutePrefix = "docs";
            o.SwaggerEndpoint("/openapi/v1.json", app.Environment.ApplicationName);
        });

        // Apply this service's migrations before the first request; a failure stops the process.
        app.Services.GetService<DatabaseMigrator>()?.Migrate(app.Logger);
        return app;
    }

    private static void AddOpenTelemetryDefaults(this IHostApplicationBuilder builder)
    {
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });

        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var ratio = builder.Configuration.GetValue("Telemetry:TraceSampleRatio", 1.0);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Environment.ApplicationName))
            .WithMetrics(m => m
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Oms.*")
                .AddPrometheusExporter());

        // Traces are only collected when something will receive them (the Aspire dashboard, a collector).
        if (otlp)
        {
            telemetry.WithTracing(t => t
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)))
                .AddAspNetCoreInstrumentation(o => o.Filter = c =>
                    !c.Request.Path.StartsWithSegments("/health") && !c.Request.Path.StartsWithSegments("/metrics"))
                .AddHttpClientInstrumentation()
                .AddNpgsql());
            telemetry.UseOtlpExporter();
        }
    }
}

/// <summary>
/// Problem+json for failures that are not bugs: Kestrel's own request errors (body too large, bad framing)
/// keep their 4xx status; an unreachable database is a 503 the client may retry, never a bare 500.
/// </summary>
internal sealed class KnownExceptionHandler(IProblemDetailsService problems, ILogger<KnownExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        int status;
        string title;
        switch (exception)
        {
            case BadHttpRequestException bad:
                (status, title) = (bad.StatusCode, "Bad request.");
                break;
            case OverloadedException overloaded:
                logger.LogDebug("Shedding load: {Message}", overloaded.Message);
                (status, title) = (StatusCodes.Status503ServiceUnavailable, "The service is overloaded; retry later.");
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(overloaded.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                break;
            case not null when DatabaseErrors.IsUnavailable(exception):
                logger.LogWarning(exception, "Database unavailable");
                (status, title) = (StatusCodes.Status503ServiceUnavailable, "The service's database is unavailable; retry later.");
                break;
            default:
                return false;
        }
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = title },
        });
    }
}
