using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Oms.ServiceDefaults;

namespace Orders.Api;

public static class EventsSetup
{
    /// <summary>
    /// Order events to other systems: the outbox rows written with every transition (<see cref="OrderStore"/>), the relay
    /// that publishes them to RabbitMQ, its options (section <c>Events</c>), the backlog gauges and the <c>events-broker</c>
    /// health check. All of it only while <c>ConnectionStrings:events</c> is set; otherwise nothing is written or run.
    /// </summary>
    public static IHostApplicationBuilder AddOrderEvents(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        // Read when first needed, not now: configuration added after this call (tests, hosts) still counts.
        services.AddSingleton(sp => new EventPublishing(sp.GetRequiredService<IConfiguration>().GetConnectionString(EventPublishing.ConnectionName)));
        services.AddOptions<EventsOptions>().BindConfiguration(EventsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventsOptions>, EventsOptionsValidation>();
        services.AddSingleton<OutboxStore>();
        services.AddSingleton<EventPublisher>();
        services.AddSingleton<OutboxGauges>();
        // Degraded, never Unhealthy: the broker being down does not stop orders, so readiness stays up.
        services.AddHealthChecks().AddCheck<EventsBrokerHealthCheck>(EventsBrokerHealthCheck.Name, HealthStatus.Degraded,
            [ServiceDefaultsExtensions.ReadyTag]);
        services.AddHostedService<OutboxRelay>();
        return builder;
    }
}
