using MudBlazor.Services;
using Oms.Console;
using Oms.Console.Components;
using Oms.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
// Telemetry, the console's port (DefaultUrls), health: the same as the services. Their API-only endpoints are not mapped.
builder.AddServiceDefaults();
builder.AddServiceClients();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddMudServices();

var app = builder.Build();
app.UseExceptionHandler("/error", createScopeForErrors: true);
app.UseStatusCodePagesWithReExecute("/not-found");
app.UseAntiforgery();
app.MapHealthChecks("/health/live", new() { Predicate = r => r.Tags.Contains("live") });
app.MapHealthChecks("/health/ready", new() { Predicate = r => r.Tags.Contains(ServiceDefaultsExtensions.ReadyTag) });
app.MapPrometheusScrapingEndpoint("/metrics");
app.MapStaticAssets();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.Run();

/// <summary>Public so that tests can host the console (WebApplicationFactory / ServiceHost).</summary>
public partial class Program;
