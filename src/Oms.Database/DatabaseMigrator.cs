using DbUp;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Oms.Database;

/// <summary>Applies a service's embedded SQL scripts with DbUp, one replica at a time.</summary>
/// <param name="migrationConnectionString">The owner role's connection string (or the runtime role's in a one-role setup).</param>
/// <param name="warning">Logged before migrating, e.g. that no owner role is configured.</param>
public sealed class DatabaseMigrator(string migrationConnectionString, System.Reflection.Assembly scripts, string? warning = null)
{
    // DbUp and the lock are synchronous, which a multiplexing connection (Multiplexing=true in the string) refuses.
    // Unpooled: the owner role's connections close when migrations end instead of idling in a pool for the service's life.
    private readonly string connectionString = new NpgsqlConnectionStringBuilder(migrationConnectionString) { Multiplexing = false, Pooling = false }.ConnectionString;

    /// <summary>What <see cref="Migrate"/> warns about first, if anything (e.g. no owner role configured).</summary>
    public string? Warning => warning;

    // Any constant works; it only has to be the same for every replica of one service.
    private const long AdvisoryLockKey = 0x0_4D5F_4D49_4752;

    /// <summary>Migrates, waiting up to a minute for the database to come up (it may start after us).</summary>
    public void Migrate(ILogger logger)
    {
        if (warning is not null) logger.LogWarning("{Warning}", warning);
        WhenReachable(logger, () => MigrateOnce(logger));
    }

    /// <summary>
    /// Fails unless every migration is applied, changing nothing: for a service whose migrations ran before it, as
    /// the owner role, elsewhere (the Kubernetes init container), so that it never serves an older schema.
    /// </summary>
    public void EnsureCurrent(ILogger logger) => WhenReachable(logger, () =>
    {
        // Reads the journal only (no journal table = nothing applied): the runtime role can do it.
        var pending = Upgrader().GetScriptsToExecute();
        if (pending.Count > 0)
            throw new InvalidOperationException($"The database schema is not current: {pending.Count} migration(s) not applied, "
                + $"the first {pending[0].Name}. Run the service with the argument \"{MigrationCommand.Name}\" as the owner role first.");
    });

    private static void WhenReachable(ILogger logger, Action action)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                action();
                return;
            }
            catch (NpgsqlException e) when (e.IsTransient && DateTime.UtcNow < deadline)
            {
                logger.LogWarning("Database not reachable yet ({Message}); retrying migrations", e.Message);
                Thread.Sleep(TimeSpan.FromSeconds(1));
            }
        }
    }

    private void MigrateOnce(ILogger logger)
    {
        // Unpooled (see above): a session-level advisory lock must end with this connection, not live on in a pool.
        using var lockConnection = new NpgsqlConnection(connectionString);
        lockConnection.Open();
        using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", lockConnection))
        {
            take.Parameters.AddWithValue("k", AdvisoryLockKey);
            take.ExecuteNonQuery();
        }

        var result = Upgrader().PerformUpgrade();

        if (!result.Successful)
            throw new InvalidOperationException($"Database migration failed at {result.ErrorScript?.Name}.", result.Error);
        foreach (var script in result.Scripts)
            logger.LogInformation("Applied migration {Script}", script.Name);
    }

    private DbUp.Engine.UpgradeEngine Upgrader() => DeployChanges.To
        .PostgresqlDatabase(connectionString)
        .WithScriptsEmbeddedInAssembly(scripts)
        .WithTransactionPerScript()
        .LogToNowhere()
        .Build();
}
