using Npgsql;

namespace Inventory.Api;

/// <summary>Why a reserve took nothing, or that it holds the stock.</summary>
public enum ReserveOutcome
{
    Reserved,
    InsufficientStock,
    UnknownItem,
    /// <summary>The order id was released (or tombstoned) before: it can never reserve again.</summary>
    Released,
    /// <summary>The order id already holds a reservation of other lines.</summary>
    OtherLines,
}

/// <summary>A one-line reserve's answer: the remaining stock when reserved; the held line when <see cref="ReserveOutcome.OtherLines"/>.</summary>
public sealed record OneLineReserve(ReserveOutcome Outcome, long Remaining = 0, string? HeldSku = null, int HeldQuantity = 0);

/// <summary>
/// The items and reservations tables. Every rule that must hold under concurrency (no negative stock,
/// one reservation per order id, stock given back once) is enforced by a single SQL statement.
/// </summary>
public sealed class StockStore(NpgsqlDataSource db)
{
    // Adds only while the sum stays under the ceiling (StockApi.MaxAvailable); no row back means nothing was written.
    private const string ReceiveSql = """
        INSERT INTO items AS i (sku, available) VALUES ($1, $2)
        ON CONFLICT (sku) DO UPDATE
            SET available = i.available + EXCLUDED.available, updated_at = now()
            WHERE i.available <= 9000000000000000 - EXCLUDED.available
        RETURNING available
        """;

    private const string SetSql = """
        INSERT INTO items AS i (sku, available) VALUES ($1, $2)
        ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()
        RETURNING available
        """;

    private const string GetSql = "SELECT available FROM items WHERE sku = $1";
    private const string FirstPageSql = "SELECT sku, available FROM items ORDER BY sku LIMIT $1";
    private const string NextPageSql = "SELECT sku, available FROM items WHERE sku > $2 ORDER BY sku LIMIT $1";

    /// <summary>The available stock after adding <paramref name="quantity"/>; null when that would pass the ceiling (nothing written).</summary>
    public async Task<long?> ReceiveAsync(string sku, long quantity, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(ReceiveSql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = quantity });
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }

    /// <summary>Sets the available stock, creating the item if new.</summary>
    public async Task<long> SetAsync(string sku, long quantity, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(SetSql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = quantity });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The available stock of an item; null when there is no such item.</summary>
    public async Task<long?> GetAsync(string sku, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(GetSql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }

    /// <summary>Up to <paramref name="count"/> items by sku ascending, after <paramref name="after"/> when given.</summary>
    public async Task<List<StockLevel>> ListAsync(string? after, int count, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(after is null ? FirstPageSql : NextPageSql);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = count });
        if (after is not null) command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after });

        var items = new List<StockLevel>(Math.Min(count, 64));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            items.Add(new StockLevel(reader.GetString(0), reader.GetInt64(1)));
        return items;
    }

    // Takes the stock and records the reservation in one statement. The NOT EXISTS keeps a repeat from
    // taking stock again; if a concurrent reserve for the same order id commits first, the INSERT raises
    // 23505 and the whole statement (stock included) rolls back.
    private const string ReserveSql = """
        WITH taken AS (
            UPDATE items SET available = available - $3, updated_at = now()
            WHERE sku = $2 AND available >= $3
              AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = $1)
            RETURNING available)
        INSERT INTO reservations (order_id, sku, quantity, remaining, status)
        SELECT $1, $2, $3, available, 'RESERVED' FROM taken
        RETURNING remaining
        """;

    // Why nothing was taken: the order's reservation (if any) and whether the item exists.
    private const string ExplainSql = """
        SELECT r.sku, r.quantity, r.remaining, r.status, EXISTS (SELECT 1 FROM items WHERE sku = $2)
        FROM (SELECT 1) AS one LEFT JOIN reservations r ON r.order_id = $1
        """;

    /// <summary>Takes <paramref name="quantity"/> of <paramref name="sku"/> for the order, once: a repeat answers from the first.</summary>
    public async Task<OneLineReserve> ReserveAsync(Guid orderId, string sku, int quantity, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand(ReserveSql, connection);
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = quantity });
            if (await command.ExecuteScalarAsync(cancellationToken) is long remaining)
                return new OneLineReserve(ReserveOutcome.Reserved, remaining);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // A concurrent reserve or release for this order id won; the statement rolled back. Explain below.
        }

        await using var explain = new NpgsqlCommand(ExplainSql, connection);
        explain.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        await using var reader = await explain.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);

        if (!reader.IsDBNull(3))
        {
            if (reader.GetString(3) == ReservationStatus.Released) return new OneLineReserve(ReserveOutcome.Released);
            var firstSku = reader.GetString(0);
            var firstQuantity = reader.GetInt32(1);
            return firstSku == sku && firstQuantity == quantity
                ? new OneLineReserve(ReserveOutcome.Reserved, reader.GetInt64(2))
                : new OneLineReserve(ReserveOutcome.OtherLines, HeldSku: firstSku, HeldQuantity: firstQuantity);
        }
        return new OneLineReserve(reader.GetBoolean(4) ? ReserveOutcome.InsufficientStock : ReserveOutcome.UnknownItem);
    }

    // 1. An order id never seen before gets a tombstone, so a late reserve for it is refused.
    private const string TombstoneSql = """
        INSERT INTO reservations (order_id, sku, quantity, status) VALUES ($1, NULL, 0, 'RELEASED')
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
        """;

    // 2. Otherwise flip RESERVED -> RELEASED and give the stock back, in one statement: only the call that
    //    flips the status restores anything.
    private const string ReleaseSql = """
        WITH rel AS (
            UPDATE reservations SET status = 'RELEASED', updated_at = now()
            WHERE order_id = $1 AND status = 'RESERVED'
            RETURNING sku, quantity)
        UPDATE items i SET available = i.available + rel.quantity, updated_at = now()
        FROM rel WHERE i.sku = rel.sku
        RETURNING rel.quantity
        """;

    /// <summary>Gives the order's reservation back (once) or leaves a tombstone; the quantity the reservation held (0 for a tombstone).</summary>
    public async Task<int> ReleaseAsync(Guid orderId, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);

        // Both statements in one round trip. Each takes its own snapshot (read committed), so step 2 sees
        // a reservation that a concurrent reserve committed while step 1 waited on it. After a tombstone
        // insert, step 2 finds nothing RESERVED and does nothing.
        await using (var batch = new NpgsqlBatch(connection))
        {
            var tombstone = new NpgsqlBatchCommand(TombstoneSql);
            tombstone.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            var release = new NpgsqlBatchCommand(ReleaseSql);
            release.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            batch.BatchCommands.Add(tombstone);
            batch.BatchCommands.Add(release);

            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken)) return 0;
            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken)) return reader.GetInt32(0);
        }

        // Released earlier (by another call): same answer, nothing restored.
        await using var read = new NpgsqlCommand("SELECT quantity FROM reservations WHERE order_id = $1", connection);
        read.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        return await read.ExecuteScalarAsync(cancellationToken) as int? ?? 0;
    }
}
