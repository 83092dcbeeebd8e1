using System.Net.Http.Headers;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Oms.Console.Clients;

namespace Oms.Console;

public static class ServiceClientsSetup
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

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
            .AddStandardResilienceHandler()
            .Configure((o, sp) =>
            {
                var timeout = sp.GetRequiredService<IOptions<ConsoleOptions>>().Value.ServiceTimeout;
                o.TotalRequestTimeout.Timeout = timeout;
                o.AttemptTimeout.Timeout = timeout;
                // One quick retry for a blip; a service that is down shows as such within the timeout, not after backoffs.
                o.Retry.MaxRetryAttempts = 1;
                o.Retry.Delay = RetryDelay;
                // Receive (POST) is not idempotent: a retry after a lost answer would add the stock twice.
                o.Retry.DisableForUnsafeHttpMethods();
                o.CircuitBreaker.SamplingDuration = timeout * 2 > o.CircuitBreaker.SamplingDuration ? timeout * 2 : o.CircuitBreaker.SamplingDuration;
            });
    }
}
