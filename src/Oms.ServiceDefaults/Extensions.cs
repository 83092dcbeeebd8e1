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

    /// <summary>The contract's limit on a request body (413 past it).</summary>
    public const int MaxRequestBodyBytes = 64 * 1024;

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
            // Bodies are read by Oms.Validation's RequestBody, which refuses "100" for a number; the OpenAPI schema says so too.
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>().Configure<IConfiguration>((o, config) =>
        {
            o.AddServerHeader = false;
            // Header bytes outside ASCII are read as Latin-1 (RFC 9110 obs-text) instead of Kestrel refusing the request
            // with a bare 400: the endpoint then judges the value and answers a problem with a code.
            o.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
            o.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
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
        services.AddWarmup();
        builder.AddOpenTelemetryDefaults();
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
/// Problem+json for Kestrel's own request errors (body too large, bad framing): they keep their 4xx status.
/// (A service's database adds its own handler: Oms.Database answers 503 while the database is out.)
/// </summary>
internal sealed class KnownExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad) return false;
        const string title = "Bad request.";
        context.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = bad.StatusCode, Title = title, Detail = title },
        });
    }
}
