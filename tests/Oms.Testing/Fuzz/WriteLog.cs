using Npgsql;

namespace Oms.Testing.Fuzz;

/// <summary>One row written by a service: its table, the operation and the row's key columns.</summary>
public sealed record RowWrite(string Database, string Table, string Operation, string? OrderId, string? Sku)
{
    public override string ToString() => $"{Operation} {Database}.{Table} order_id={OrderId ?? "-"} sku={Sku ?? "-"}";
}

/// <summary>
/// Records every row a service writes, whatever the code path: a row-level trigger on each of its tables appends
/// the row's key columns to <c>fuzz_writes</c>. A fuzzer then reads what a batch of requests wrote in one query and
/// attributes each write to a request that was answered 2xx. Independent of the service's own bookkeeping
/// (updated_at and the like), so a write that forgot it is still seen.
/// </summary>
public sealed class WriteLog
{
    private readonly string _connectionString;
    private readonly string _database;
    private long _lastId;

    private WriteLog(string connectionString, string database)
    {
        _connectionString = connectionString;
        _database = database;
    }

    // SECURITY DEFINER: the trigger runs as its owner (the test's superuser), so it works whatever role the service
    // logs in as. Applied to every table the migrations made; the migration journal is not written at run time.
    private const string InstallSql = """
        CREATE TABLE IF NOT EXISTS fuzz_writes (id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, row jsonb NOT NULL);
        CREATE OR REPLACE FUNCTION fuzz_log_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            INSERT INTO fuzz_writes (tbl, op, row)
            VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END));
            RETURN NULL;
        END $$;
        DO $$
        DECLARE t text;
        BEGIN
            FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'fuzz_writes'
                     AND tablename NOT ILIKE 'schemaversions'
            LOOP
                EXECUTE format('DROP TRIGGER IF EXISTS fuzz_write_log ON %I', t);
                EXECUTE format('CREATE TRIGGER fuzz_write_log AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION fuzz_log_write()', t);
            END LOOP;
        END $$;
        """;

    /// <summary>Installs the log in the database named by <paramref name="serviceConnectionString"/>, connecting as the test superuser.</summary>
    public static async Task<WriteLog> InstallAsync(PostgresServer server, string serviceConnectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(serviceConnectionString).Database!;
        var admin = new NpgsqlConnectionStringBuilder(server.AdminConnectionString) { Database = database, Pooling = true }.ConnectionString;
        var log = new WriteLog(admin, database);
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using (var install = new NpgsqlCommand(InstallSql, connection)) await install.ExecuteNonQueryAsync();
        await using var max = new NpgsqlCommand("SELECT coalesce(max(id), 0) FROM fuzz_writes", connection);
        log._lastId = (long)(await max.ExecuteScalarAsync())!;
        return log;
    }

    /// <summary>The rows written since the previous call (or since install).</summary>
    public async Task<IReadOnlyList<RowWrite>> TakeNewAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT id, tbl, op, row->>'order_id', coalesce(row->>'sku', row->>'item_sku') FROM fuzz_writes WHERE id > $1 ORDER BY id", connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _lastId });
        var writes = new List<RowWrite>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            _lastId = reader.GetInt64(0);
            writes.Add(new RowWrite(_database, reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }
        return writes;
    }
}
