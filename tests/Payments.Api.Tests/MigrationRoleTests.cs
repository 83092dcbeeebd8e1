using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Oms.Database;
using Oms.ServiceDefaults;
using Oms.Testing;
using Payments.Api;
using Xunit;

namespace Payments.Api.Tests;

/// <summary>Which role runs the migrations: the owner role when ConnectionStrings:payments_owner is set, else the runtime string, with a warning.</summary>
public sealed class MigrationRoleTests(PostgresServer postgres)
{
    [Fact]
    public async Task WithAnOwnerStringTheOwnerMigratesWithoutWarning()
    {
        var database = await postgres.CreateServiceDatabaseAsync("payments");
        await using var host = new ServiceHost<AuthorizeRequest>(database.Settings("payments").ToDictionary(kv => kv.Key, kv => (string?)kv.Value));
        host.Start();
        using var client = host.CreateInternalClient();

        await (await client.AuthorizeAsync(Guid.NewGuid(), "10")).ExpectAsync(HttpStatusCode.OK);
        Assert.Null(host.Services.GetRequiredService<DatabaseMigrator>().Warning);
        Assert.Equal(database.Name + "_owner", await TableOwnerAsync(database.Admin));
    }

    [Fact]
    public async Task WithoutAnOwnerStringAOneRoleSetupStillMigratesAndIsWarned()
    {
        // One role for everything (here the server's superuser, which owns the fresh database).
        var single = await postgres.CreateDatabaseAsync("payments_single");
        await using var host = new ServiceHost<AuthorizeRequest>(new Dictionary<string, string?> { ["ConnectionStrings:payments"] = single });
        host.Start();
        using var client = host.CreateInternalClient();

        await (await client.AuthorizeAsync(Guid.NewGuid(), "10")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains("ConnectionStrings:payments_owner is not set", host.Services.GetRequiredService<DatabaseMigrator>().Warning);
        Assert.Equal("postgres", await TableOwnerAsync(single));
    }

    private static async Task<string> TableOwnerAsync(string admin)
    {
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("SELECT tableowner::text FROM pg_tables WHERE tablename = 'payments'", connection);
        return (string)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }
}
