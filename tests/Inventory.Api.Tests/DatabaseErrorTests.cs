using System.Net;
using Npgsql;
using Oms.Testing;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Only an unavailable database is a retryable 503; a statement the database refuses is our bug, a 500.</summary>
public sealed class DatabaseErrorTests(InventoryService service, PostgresServer postgres) : IClassFixture<InventoryService>
{
    [Fact]
    public async Task A_constraint_the_database_enforces_is_500_not_503()
    {
        var sku = NewSku();
        // A rule the service does not know: the database refuses the statement (23514), as it would on a bug of ours.
        var admin = new NpgsqlConnectionStringBuilder(postgres.AdminConnectionString)
        {
            Database = new NpgsqlConnectionStringBuilder(service.ConnectionString).Database,
        };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand("ALTER TABLE items ADD CONSTRAINT at_most_100 CHECK (available <= 100)", connection);
            await command.ExecuteNonQueryAsync(Ct);
        }

        using var response = await service.Client.Receive(sku, 500);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.InternalServerError, "internal_error");
        Assert.Null(response.Headers.RetryAfter);
        await service.Client.AssertMissing(sku);
    }
}
