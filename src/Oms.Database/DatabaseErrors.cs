using Npgsql;

namespace Oms.Database;

/// <summary>Tells a database that cannot serve us now (retry later: 503) from a statement it refused (our bug: 500).</summary>
public static class DatabaseErrors
{
    /// <summary>
    /// True for failures of availability: no connection (socket, pool timeout), SQLSTATE class 08 (connection),
    /// 53 (insufficient resources), 57P0x (shutdown, crash, not accepting connections), and 57014, a statement
    /// cancelled by our statement_timeout (the database is too slow for now). Constraint, data and syntax errors are not.
    /// </summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal)
                               || p.SqlState.StartsWith("53", StringComparison.Ordinal)
                               || p.SqlState.StartsWith("57P0", StringComparison.Ordinal)
                               || p.SqlState == PostgresErrorCodes.QueryCanceled,
        NpgsqlException => true,
        TimeoutException => true,
        _ => false,
    };

    /// <summary>PostgreSQL refused the statement itself (a constraint, a deadlock): it may be one call's doing, unlike an outage.</summary>
    public static bool IsRefusedStatement(Exception exception) => exception is PostgresException && !IsUnavailable(exception);
}
