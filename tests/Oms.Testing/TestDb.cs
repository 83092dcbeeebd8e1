using Npgsql;

namespace Oms.Testing;

/// <summary>The tests' one set of direct database helpers, for the checks the APIs cannot show.</summary>
public static class TestDb
{
    /// <summary>Runs one scalar query (positional parameters $1, $2…); SQL NULL comes back as default(T).</summary>
    public static async Task<T> ScalarAsync<T>(string connectionString, string sql, params object[] args)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = Command(connection, sql, args);
        var value = await command.ExecuteScalarAsync();
        return value switch
        {
            DBNull or null => default!,
            T typed => typed,
            // e.g. count(*) is bigint: a test may ask for an int.
            _ => (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Runs statements (setup, or breaking a state on purpose); returns the rows affected.</summary>
    public static async Task<int> ExecuteAsync(string connectionString, string sql, params object[] args)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = Command(connection, sql, args);
        return await command.ExecuteNonQueryAsync();
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] args)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var arg in args) command.Parameters.Add(new NpgsqlParameter { Value = arg });
        return command;
    }
}
