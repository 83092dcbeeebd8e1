using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Oms.Testing;

namespace Oms.Database.Tests;

/// <summary>Migrations run when the host starts, before every other hosted service (Kestrel among them) starts.</summary>
public sealed class DatabaseMigrationsTests(PostgresServer postgres)
{
    /// <summary>A hosted service registered before the database: what it finds when it starts.</summary>
    private sealed class EarlyProbe(string connectionString) : IHostedService
    {
        public long? RowsSeen { get; private set; }
        public bool Started { get; private set; }

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            Started = true;
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT count(*) FROM migration_probe", connection);
            RowsSeen = (long?)await command.ExecuteScalarAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static (IHost Host, EarlyProbe Probe) Build(string connectionString, bool migrateOnStart = true)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:probe"] = connectionString;
        builder.Configuration["Migrations:OnStart"] = migrateOnStart ? "true" : "false";
        var probe = new EarlyProbe(connectionString);
        builder.Services.AddHostedService(_ => probe);
        builder.AddServiceDatabase("probe", typeof(DatabaseMigrationsTests).Assembly);
        return (builder.Build(), probe);
    }

    [Fact]
    public async Task The_schema_is_current_before_any_hosted_service_starts()
    {
        var (host, probe) = Build(await postgres.CreateDatabaseAsync("migrations_first"));
        using (host)
        {
            await host.StartAsync(TestContext.Current.CancellationToken);
            Assert.Equal(1, probe.RowsSeen);
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_failed_migration_fails_the_start_and_nothing_else_starts()
    {
        var database = await postgres.CreateDatabaseAsync("migrations_fail");
        // A table the script cannot create again: the migration fails.
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            await using var command = new NpgsqlCommand("CREATE TABLE migration_probe (other text)", connection);
            await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
        var (host, probe) = Build(database);
        using (host)
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(TestContext.Current.CancellationToken));
            Assert.Contains("0001_probe.sql", error.ToString());
            Assert.False(probe.Started);
        }
    }

    private static async Task<bool> ProbeTableExists(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("SELECT to_regclass('migration_probe') IS NOT NULL", connection);
        return (bool)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    [Fact]
    public async Task The_migrate_command_applies_the_migrations_and_starts_nothing()
    {
        var database = await postgres.CreateDatabaseAsync("migrate_command");
        var (host, probe) = Build(database);
        using (host) host.RunOrMigrate([MigrationCommand.Name]);
        Assert.False(probe.Started);
        Assert.True(await ProbeTableExists(database));
    }

    [Fact]
    public async Task Without_migrations_on_start_an_unmigrated_schema_fails_the_start_and_is_left_alone()
    {
        var database = await postgres.CreateDatabaseAsync("migrations_not_on_start");
        var (host, probe) = Build(database, migrateOnStart: false);
        using (host)
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(TestContext.Current.CancellationToken));
            Assert.Contains("0001_probe.sql", error.Message);
            Assert.Contains($"\"{MigrationCommand.Name}\"", error.Message);
            Assert.False(probe.Started);
        }
        Assert.False(await ProbeTableExists(database));
    }

    [Fact]
    public async Task Without_migrations_on_start_a_schema_migrated_by_the_command_starts()
    {
        var database = await postgres.CreateDatabaseAsync("migrated_by_command");
        var (migrating, _) = Build(database);
        using (migrating) migrating.RunOrMigrate([MigrationCommand.Name]);
        var (host, probe) = Build(database, migrateOnStart: false);
        using (host)
        {
            await host.StartAsync(TestContext.Current.CancellationToken);
            Assert.Equal(1, probe.RowsSeen);
            await host.StopAsync(TestContext.Current.CancellationToken);
        }
    }
}
