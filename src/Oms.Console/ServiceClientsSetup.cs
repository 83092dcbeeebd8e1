using System.Net.Http.Headers;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Oms.Console.Clients;

namespace Oms.Console;

public static class ServiceClientsSetup
{
    /// <summary>Options and one typed HttpClient per service, each with the API key (when set) and the standard resilience handler.</summary>
    public static void AddServiceClients(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ServicesOptions>().BindConfiguration(ServicesOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        Add<OrdersClient>(services, o => o.Orders);
        Add<InventoryClient>(services, o => o.Inventory);
        Add<PaymentsClient>(services, o => o.Payments);
    }

    private static void Add<TClient>(IServiceCollection services, Func<ServicesOptions, string> baseUrl) where TClient : class
    {
        services.AddHttpClient<TClient>((sp, http) =>
            {
                // A trailing slash so that relative paths ("api/v1/…") keep any path prefix of the base URL.
                http.BaseAddress = new Uri(baseUrl(sp.GetRequiredService<IOptions<ServicesOptions>>().Value).TrimEnd('/') + "/");
                if (sp.GetRequiredService<IOptions<ConsoleOptions>>().Value.ApiKey is { Length: > 0 } key)
                    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            })
            // Receive (POST) is not idempotent: a retry after a lost answer would add the stock twice.
            .AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods());
    }
}
