using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Oms.ServiceDefaults;

namespace Oms.Database;

public static class ServiceDatabaseExtensions
{
    private const string ConnectionStringKey = "oms-connection-string";

    /// <summary>
    /// The service's own database: a pooled <see cref="NpgsqlDataSource"/> from <c>ConnectionStrings:{name}</c>, a readiness
    /// check on it, its DbUp migrations (embedded <c>*.sql</c> in <paramref name="migrationsAssembly"/>) applied before the
    /// service serves (<see cref="DatabaseMigrations"/>), the coalescer's options, and 503 answers while the database is out.
    /// </summary>
    public static TBuilder AddServiceDatabase<TBuilder>(this TBuilder builder, string name, Assembly migrationsAssembly)
        where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        // Resolved lazily so that configuration added after this call (tests, hosts) still counts.
        services.AddKeyedSingleton<string>(ConnectionStringKey, (sp, _) =>
            TuneConnectionString(sp.GetRequiredService<IConfiguration>().GetConnectionString(name)
                ?? throw new InvalidOperationException($"ConnectionStrings:{name} is not set."), sp.GetRequiredService<IHostEnvironment>()));
        services.AddSingleton(sp => new NpgsqlDataSourceBuilder(sp.GetRequiredKeyedService<string>(ConnectionStringKey))
            .UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>())
            // No span for a statement whose request is not being traced: nothing would export it, and it is four
            // activities per order. Statements outside any request (the recovery worker) are sampled as usual.
            .ConfigureTracing(t => t.ConfigureCommandFilter(_ => System.Diagnostics.Activity.Current is not { Recorded: false }))
            .Build());
        services.AddHealthChecks().AddNpgSql(sp => sp.GetRequiredService<NpgsqlDataSource>(),
            name: "database", tags: [ServiceDefaultsExtensions.ReadyTag], timeout: TimeSpan.FromSeconds(3));
        // Migrations run as the database's owner role (ConnectionStrings:<name>_owner); the service itself runs as a
        // runtime role that cannot change the schema. Without an owner string, a one-role setup still migrates.
        services.AddSingleton(sp =>
            sp.GetRequiredService<IConfiguration>().GetConnectionString(name + "_owner") is { Length: > 0 } owner
                ? new DatabaseMigrator(owner, migrationsAssembly)
                : new DatabaseMigrator(sp.GetRequiredKeyedService<string>(ConnectionStringKey), migrationsAssembly,
                    $"ConnectionStrings:{name}_owner is not set: migrations run as the runtime role of ConnectionStrings:{name}."));
        services.AddHostedService<DatabaseMigrations>();
        services.AddOptions<MigrationOptions>().BindConfiguration(MigrationOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<CoalescingOptions>().BindConfiguration("Coalescing").ValidateDataAnnotations().ValidateOnStart();
        services.AddExceptionHandler<DatabaseExceptionHandler>();
        return builder;
    }

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
}

/// <summary>The <c>Migrations</c> section.</summary>
public sealed class MigrationOptions
{
    public const string Section = "Migrations";

    /// <summary>
    /// Whether the service applies its migrations when it starts (the default). False where they run before it as the
    /// owner role (<see cref="MigrationCommand"/>, the Kubernetes init container): the service then only checks that
    /// the schema is current, and needs no owner credentials.
    /// </summary>
    public bool OnStart { get; set; } = true;
}

/// <summary>
/// Applies the service's migrations when the host starts (or, with <see cref="MigrationOptions.OnStart"/> false, checks
/// that they are applied), before any hosted service's StartAsync — so before Kestrel listens and before background
/// workers touch the tables. Nothing is served (health included) until the schema is current; a failed migration
/// fails the start and so stops the process.
/// </summary>
public sealed class DatabaseMigrations(DatabaseMigrator migrator, IOptions<MigrationOptions> options, ILogger<DatabaseMigrations> logger)
    : IHostedLifecycleService
{
    // DbUp is synchronous (and waits for the database to come up): off the host's thread.
    public Task StartingAsync(CancellationToken cancellationToken) => Task.Run(() =>
    {
        if (options.Value.OnStart) migrator.Migrate(logger);
        else migrator.EnsureCurrent(logger);
    }, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// A database that cannot serve us now is a 503 the client may retry, never a bare 500: an outage (see
/// <see cref="DatabaseErrors.IsUnavailable"/>) or too many writes already waiting (<see cref="OverloadedException"/>,
/// with Retry-After).
/// </summary>
internal sealed class DatabaseExceptionHandler(IProblemDetailsService problems, ILogger<DatabaseExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        string title;
        switch (exception)
        {
            case OverloadedException overloaded:
                logger.LogDebug("Shedding load: {Message}", overloaded.Message);
                title = "The service is overloaded; retry later.";
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(overloaded.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                break;
            case not null when DatabaseErrors.IsUnavailable(exception):
                logger.LogWarning(exception, "Database unavailable");
                title = "The service's database is unavailable; retry later.";
                break;
            default:
                return false;
        }
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = StatusCodes.Status503ServiceUnavailable, Title = title, Detail = title },
        });
    }
}
