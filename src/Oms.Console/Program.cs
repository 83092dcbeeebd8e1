using MudBlazor.Services;
using Oms.Console;
using Oms.Console.Components;

var builder = WebApplication.CreateBuilder(args);
builder.AddConsoleDefaults();
builder.AddServiceClients();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddMudServices();

var app = builder.Build();
app.UseExceptionHandler("/error", createScopeForErrors: true);
app.UseStatusCodePagesWithReExecute("/not-found");
app.UseAntiforgery();
app.MapConsoleDefaultEndpoints();
app.MapStaticAssets();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.Run();

/// <summary>Public so that tests can host the console (WebApplicationFactory / ServiceHost).</summary>
public partial class Program;
