using DbUp;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Oms.ServiceDefaults;

/// <summary>Applies a service's embedded SQL scripts with DbUp, one replica at a time.</summary>
public sealed class DatabaseMigrator(string serviceConnectionString, System.Reflection.Assembly scripts)
{
    // DbUp and the lock are synchronous, which a multiplexing connection (Multiplexing=true in the string) refuses.
    private readonly string connectionString = new NpgsqlConnectionStringBuilder(serviceConnectionString) { Multiplexing = false }.ConnectionString;

    // Any constant works; it only has to be the same for every replica of one service.
    private const long AdvisoryLockKey = 0x0_4D5F_4D49_4752;

    /// <summary>Migrates, waiting up to a minute for the database to come up (it may start after us).</summary>
    public void Migrate(ILogger logger)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                MigrateOnce(logger);
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
        // Unpooled: a session-level advisory lock must end with this connection, not live on in a pool.
        using var lockConnection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        lockConnection.Open();
        using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", lockConnection))
        {
            take.Parameters.AddWithValue("k", AdvisoryLockKey);
            take.ExecuteNonQuery();
        }

        var result = DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .WithScriptsEmbeddedInAssembly(scripts)
            .WithTransactionPerScript()
            .LogToNowhere()
            .Build()
            .PerformUpgrade();

        if (!result.Successful)
            throw new InvalidOperationException($"Database migration failed at {result.ErrorScript?.Name}.", result.Error);
        foreach (var script in result.Scripts)
            logger.LogInformation("Applied migration {Script}", script.Name);
    }
}
