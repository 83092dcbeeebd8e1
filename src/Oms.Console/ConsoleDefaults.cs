using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Oms.Console;

/// <summary>
/// The parts of the services' defaults (Oms.ServiceDefaults) that fit a web UI with no database and no internal endpoints:
/// its port, telemetry, health. (AddServiceDefaults itself insists on the service token and sets up API-only concerns.)
/// </summary>
public static class ConsoleDefaults
{
    public static void AddConsoleDefaults(this WebApplicationBuilder builder)
    {
        // The console's own port (DefaultUrls in appsettings.json) unless something else chose one, as in the services.
        var configuration = builder.Configuration;
        if (configuration["DefaultUrls"] is { Length: > 0 } defaultUrls
            && string.IsNullOrEmpty(configuration["urls"]) && string.IsNullOrEmpty(configuration["http_ports"])
            && string.IsNullOrEmpty(configuration["https_ports"]) && !configuration.GetSection("Kestrel:Endpoints").Exists())
            builder.WebHost.UseUrls(defaultUrls);

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live", "ready"]);

        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Environment.ApplicationName))
            .WithMetrics(m => m
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        // Traces only when something receives them (the Aspire dashboard, a collector); the console's calls join the services' traces.
        if (!string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.WithTracing(t => t
                .AddAspNetCoreInstrumentation(o => o.Filter = c =>
                    !c.Request.Path.StartsWithSegments("/health") && !c.Request.Path.StartsWithSegments("/metrics")
                    && !c.Request.Path.StartsWithSegments("/_framework") && !c.Request.Path.StartsWithSegments("/_content"))
                .AddHttpClientInstrumentation());
            telemetry.UseOtlpExporter();
        }
    }

    public static void MapConsoleDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        // The console holds no state: ready as soon as it listens. A service being down shows on the pages, in words.
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
    }
}
