using System.Net;
using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Least privilege (DESIGN.md, Security): each service runs as a runtime role that can read and write its own
/// tables and nothing else, and migrates as its owner role. The roles are the ones deploy/postgres/provision-roles.sql
/// makes, the same statements as the local runner and the containers.
/// </summary>
public sealed class DatabaseRoleTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] ServiceNames = ["orders", "inventory", "payments"];
    public static TheoryData<string> Services => new(ServiceNames);

    private ServiceDatabase Database(string service) => service switch
    {
        "orders" => System.OrdersDatabase,
        "inventory" => System.InventoryDatabase,
        "payments" => System.PaymentsDatabase,
        _ => throw new ArgumentOutOfRangeException(nameof(service)),
    };

    [Fact]
    public async Task EveryServiceWorksEndToEndConnectedAsItsRuntimeRole()
    {
        var sku = $"roles-{Guid.NewGuid():N}";
        await System.ReceiveStockAsync(sku, 5);
        using var placed = await System.PlaceAsync(sku, 2, 100m, sku);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        Assert.Equal("CONFIRMED", (await OmsSystem.BodyAsync(placed)).Str("status"));
        Assert.Equal(3, await System.AvailableAsync(sku));

        foreach (var service in ServiceNames)
        {
            var database = Database(service);
            // Every connection the service holds to its database is the runtime role's.
            var users = await AdminListAsync(database, "SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
            Assert.Equal([database.Name], users);
            // Its tables were created by the migrations, run as the owner role.
            var owners = await AdminListAsync(database, "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'");
            Assert.Equal([database.Name + "_owner"], owners);
        }
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task RuntimeRoleCannotDropOrCreateTables(string service)
    {
        var database = Database(service);
        await using var connection = await OpenAsync(database.Runtime);
        var table = await ScalarAsync<string>(connection, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schemaversions' ORDER BY tablename LIMIT 1");

        await AssertDeniedAsync(connection, $"DROP TABLE \"{table}\"");
        await AssertDeniedAsync(connection, "CREATE TABLE roles_probe (id int)");
        await AssertDeniedAsync(connection, $"ALTER TABLE \"{table}\" ADD COLUMN roles_probe int");
        // The table is still there and still readable and writable through DML rights.
        Assert.True(await ScalarAsync<long>(connection, $"SELECT count(*) FROM \"{table}\"") >= 0);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task RuntimeRoleCannotConnectToAnotherServicesDatabase(string service)
    {
        var database = Database(service);
        foreach (var other in ServiceNames.Where(s => s != service))
        {
            var elsewhere = new NpgsqlConnectionStringBuilder(database.Runtime) { Database = Database(other).Name, Pooling = false }.ConnectionString;
            var denied = await Assert.ThrowsAsync<PostgresException>(async () => await OpenAsync(elsewhere));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        }
        var maintenance = new NpgsqlConnectionStringBuilder(database.Runtime) { Database = "postgres", Pooling = false }.ConnectionString;
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, (await Assert.ThrowsAsync<PostgresException>(async () => await OpenAsync(maintenance))).SqlState);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task RuntimeRoleIsNotPrivilegedAndHasAStatementTimeout(string service)
    {
        var database = Database(service);
        await using var connection = await OpenAsync(database.Runtime);
        Assert.Equal(database.Name, await ScalarAsync<string>(connection, "SELECT current_user::text"));
        Assert.False(await ScalarAsync<bool>(connection, "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = current_user"));
        Assert.Equal("10s", await ScalarAsync<string>(connection, "SHOW statement_timeout"));

        // The owner migrates, so it gets no statement_timeout (a long migration must not be cut off).
        await using var owner = await OpenAsync(database.Owner);
        Assert.Equal("0", await ScalarAsync<string>(owner, "SHOW statement_timeout"));
        Assert.False(await ScalarAsync<bool>(owner, "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user"));
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync(Ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task AssertDeniedAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var denied = await Assert.ThrowsAsync<PostgresException>(async () => await command.ExecuteNonQueryAsync(Ct));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
    }

    private static async Task<List<string>> AdminListAsync(ServiceDatabase database, string sql)
    {
        await using var connection = await OpenAsync(database.Admin);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var values = new List<string>();
        while (await reader.ReadAsync(Ct)) values.Add(reader.GetString(0));
        return values;
    }
}
