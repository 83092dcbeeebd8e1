using Npgsql;
using Oms.Database;

namespace Oms.Database.Tests;

public sealed class DatabaseErrorsTests
{
    private static PostgresException Refusal(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("08006")] // connection failure
    [InlineData("08001")]
    [InlineData("53300")] // too many connections
    [InlineData("53100")] // disk full
    [InlineData("57P01")] // admin shutdown
    [InlineData("57P02")] // crash shutdown
    [InlineData("57P03")] // cannot connect now (starting up)
    [InlineData("57014")] // statement_timeout
    public void AvailabilityFailuresAreUnavailable(string sqlState)
    {
        Assert.True(DatabaseErrors.IsUnavailable(Refusal(sqlState)));
        Assert.False(DatabaseErrors.IsRefusedStatement(Refusal(sqlState)));
    }

    [Theory]
    [InlineData("23505")] // unique violation
    [InlineData("23514")] // check violation
    [InlineData("22003")] // numeric out of range
    [InlineData("42P01")] // undefined table
    [InlineData("40P01")] // deadlock
    [InlineData("42501")] // insufficient privilege
    public void RefusedStatementsAreNotUnavailable(string sqlState)
    {
        Assert.False(DatabaseErrors.IsUnavailable(Refusal(sqlState)));
        Assert.True(DatabaseErrors.IsRefusedStatement(Refusal(sqlState)));
    }

    [Fact]
    public void ConnectionLevelFailuresAreUnavailable()
    {
        Assert.True(DatabaseErrors.IsUnavailable(new NpgsqlException("Failed to connect", new System.Net.Sockets.SocketException())));
        Assert.True(DatabaseErrors.IsUnavailable(new TimeoutException()));
        Assert.False(DatabaseErrors.IsUnavailable(new InvalidOperationException()));
    }
}
