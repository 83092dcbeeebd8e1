using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Migration 0009: the tables whose updates leave dead entries in the PENDING indexes are vacuumed after 1 % of their
/// rows plus 10,000 instead of PostgreSQL's 20 % (docs/benchmarks.md, "Ten million orders"); the insert-only timeline
/// keeps the defaults.
/// </summary>
public sealed class AutovacuumSettingsTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("orders")]
    [InlineData("order_lines")]
    public async Task UpdatedTablesAreVacuumedAfterOnePercentOfTheirRows(string table)
    {
        var options = await ReloptionsAsync(table);
        Assert.Equal(
            ["autovacuum_analyze_scale_factor=0.01", "autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=10000"],
            options.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task TheInsertOnlyTimelineKeepsTheDefaults() => Assert.Empty(await ReloptionsAsync("order_events"));

    private async Task<string[]> ReloptionsAsync(string table)
    {
        await using var connection = new NpgsqlConnection(fixture.System.OrdersDatabase.Admin);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = to_regclass('public.' || $1)", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = table });
        return (string[])(await command.ExecuteScalarAsync(Ct))!;
    }
}
