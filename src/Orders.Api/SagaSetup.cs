using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Oms.ServiceDefaults;

namespace Orders.Api;

public static class SagaSetup
{
    /// <summary>The saga, its two typed HttpClients (with retries, timeouts and a circuit breaker) and the recovery worker.</summary>
    public static IHostApplicationBuilder AddOrderSaga(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SagaOptions>().BindConfiguration("Saga").ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RecoveryOptions>().BindConfiguration("Recovery").ValidateDataAnnotations().ValidateOnStart();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, OrdersJsonContext.Default));

        services.AddSingleton<IValidateOptions<RecoveryOptions>, RecoveryOptionsValidation>();

        services.AddSingleton<OrderStore>();
        services.AddSingleton<OrderSaga>();
        services.AddSingleton<OrderPlacement>();
        services.AddSingleton<OrderCancellation>();
        services.AddSingleton<StuckOrders>();
        services.AddHealthChecks().AddCheck<StuckOrders>("stuck-orders", tags: [ServiceDefaultsExtensions.ReadyTag]);
        services.AddHostedService<RecoveryWorker>();
        services.AddWarmupStep<DownstreamWarmup>();

        // Saga:InventoryUrl may name a service (http://inventory) whose replicas are listed under Services:inventory:http
        // (round-robin); a URL that no Services entry names is used as it is (pass-through), as before.
        services.AddServiceDiscovery();
        AddDownstream<InventoryClient>(services, InventoryClient.Name, o => o.InventoryUrl);
        AddDownstream<PaymentClient>(services, PaymentClient.Name, o => o.PaymentUrl);
        return builder;
    }

    /// <summary>The retry's default: HttpRequestException, an attempt timeout, 5xx, 408, 429.</summary>
    private static readonly Func<RetryPredicateArguments<HttpResponseMessage>, ValueTask<bool>> Transient = new HttpRetryStrategyOptions().ShouldHandle;

    private static void AddDownstream<TClient>(IServiceCollection services, string name, Func<SagaOptions, string> url)
        where TClient : class
    {
        var client = services.AddHttpClient<TClient>(name, (sp, http) =>
            {
                http.BaseAddress = new Uri(url(sp.GetRequiredService<IOptions<SagaOptions>>().Value));
                http.DefaultRequestHeaders.Authorization =
                    new("Bearer", sp.GetRequiredService<IOptions<ServiceTokenOptions>>().Value.Token);
                // The resilience pipeline owns timeouts; this only stops a runaway request.
                http.Timeout = TimeSpan.FromMinutes(1);
                if (sp.GetRequiredService<IOptions<SagaOptions>>().Value.Http2)
                {
                    // Prior-knowledge h2c: with Exact, an http:// URL is spoken HTTP/2 from the first byte.
                    http.DefaultRequestVersion = HttpVersion.Version20;
                    http.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                }
            })
            // More than 100 concurrent streams open a second connection instead of queueing.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseCookies = false })
            // Per-request logging scopes cost more than they tell here; failures are logged by the saga.
            .RemoveAllLoggers();
        // Total timeout = the request budget (the caller's budget token usually ends it first), then retries with
        // exponential backoff and jitter. Only transient failures (HttpRequestException, attempt timeout, 5xx, 408, 429)
        // and an open circuit are retried; 404/409/422 and DECLINED are answers, not failures. Every call is idempotent
        // on order_id.
        client.AddResilienceHandler("saga", (pipeline, context) =>
        {
            var saga = context.ServiceProvider.GetRequiredService<IOptions<SagaOptions>>().Value;
            pipeline
                .AddTimeout(saga.RequestBudget)
                .AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = saga.RetryAttempts,
                    Delay = saga.RetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    // An open circuit is one replica's: the retry resolves the next one.
                    ShouldHandle = async args => args.Outcome.Exception is BrokenCircuitException || await Transient(args),
                });
        });
        // Inside the retry, so that each attempt picks the next replica (round-robin): a killed one costs one attempt.
        client.AddServiceDiscovery();
        // Per replica (keyed by the resolved authority): a circuit breaker, so that a dead replica is skipped while the
        // live ones keep working, and the timeout of one attempt.
        client.AddResilienceHandler("saga-endpoint", (pipeline, context) =>
        {
            var saga = context.ServiceProvider.GetRequiredService<IOptions<SagaOptions>>().Value;
            pipeline
                .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    SamplingDuration = TimeSpan.FromTicks(Math.Max(saga.BreakerSamplingDuration.Ticks, 2 * saga.AttemptTimeout.Ticks + 1)),
                    MinimumThroughput = saga.BreakerMinimumThroughput,
                    FailureRatio = saga.BreakerFailureRatio,
                    BreakDuration = saga.BreakerDuration,
                })
                .AddTimeout(saga.AttemptTimeout);
        }).SelectPipelineByAuthority();
    }
}
