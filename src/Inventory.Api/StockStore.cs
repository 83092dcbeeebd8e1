using Microsoft.Extensions.Options;
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

/// <summary>
/// A one-line reserve's answer: the remaining stock when reserved; when <see cref="ReserveOutcome.OtherLines"/>, the line
/// the order holds (<see cref="HeldSku"/> null when it holds several).
/// </summary>
public sealed record OneLineReserve(ReserveOutcome Outcome, long Remaining = 0, string? HeldSku = null, int HeldQuantity = 0);

/// <summary>
/// A multi-line reserve's answer: the lines as first reserved; or, when nothing was held for want of stock or items, the
/// reason for every line that broke it (by SKU).
/// </summary>
public sealed record LinesReserve(ReserveOutcome Outcome, IReadOnlyList<ReservedLine> Lines, IReadOnlyDictionary<string, string[]>? Reasons = null);

/// <summary>One reserve as the coalescer carries it: the order id and its lines (one for the one-line form).</summary>
internal sealed record ReserveCall(Guid OrderId, IReadOnlyList<ReserveLine> Lines);

/// <summary>
/// The items and reservations tables. Every rule that must hold under concurrency (no negative stock, one reservation
/// per order id, stock given back once, all lines or none) is enforced by the database: a single SQL statement for a call
/// alone; for a coalesced group of reserves, row locks held to its commit, the items' CHECK and the reservations' key.
/// </summary>
public sealed class StockStore : IAsyncDisposable
{
    private readonly NpgsqlDataSource db;
    // Reserves, one-line and multi-line alike: under load concurrent calls share one transaction and one commit, so a hot
    // SKU's row lock is taken once per group instead of once per order (each waiting for the previous order's commit).
    private readonly Coalescer<ReserveCall, LinesReserve> reserves;

    public StockStore(NpgsqlDataSource db, IOptions<CoalescingOptions> coalescing)
    {
        this.db = db;
        // PostgreSQL refusing a group's statement may be one call's doing: those run again alone.
        reserves = new Coalescer<ReserveCall, LinesReserve>(coalescing.Value, ReserveGroupAsync, DatabaseErrors.IsRefusedStatement);
    }

    public ValueTask DisposeAsync() => reserves.DisposeAsync();

    /// <summary>
    /// Attempts of a reserve or release that PostgreSQL chose as a deadlock's victim (rolled back whole, so safe to run
    /// again). Reserves never deadlock each other (see the lock order at <see cref="ReserveLinesSql"/>); a release of an
    /// order id takes its reservation row before its items, so it can meet a repeat of that order's reserve that locked
    /// the items before the reservation it repeats committed: a narrow race that running again settles.
    /// </summary>
    private const int DeadlockAttempts = 3;

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

    /// <summary>
    /// Takes <paramref name="quantity"/> of <paramref name="sku"/> for the order, once: a repeat answers from the first.
    /// Not cancelled once queued: the group it joins runs to the end.
    /// </summary>
    public async Task<OneLineReserve> ReserveAsync(Guid orderId, string sku, int quantity)
    {
        var answer = await ReserveAsync(new ReserveCall(orderId, [new ReserveLine(sku, quantity)]));
        return answer.Outcome switch
        {
            ReserveOutcome.Reserved => new OneLineReserve(ReserveOutcome.Reserved, answer.Lines[0].Remaining),
            ReserveOutcome.OtherLines when answer.Lines is [var held] => new OneLineReserve(ReserveOutcome.OtherLines, HeldSku: held.ItemSku, HeldQuantity: held.Quantity),
            _ => new OneLineReserve(answer.Outcome),
        };
    }

    /// <summary>
    /// Reserves every line or none (<see cref="ReserveLinesAsync"/>'s answer for any number of lines): alone, or with the
    /// concurrent calls of its group (<see cref="ReserveGroupAsync"/>).
    /// </summary>
    internal Task<LinesReserve> ReserveAsync(ReserveCall call) => reserves.RunAsync(call);

    /// <summary>A one-line reserve in its own statement: the answer <see cref="ReserveAsync(Guid, string, int)"/> maps.</summary>
    private async Task<LinesReserve> ReserveOneAloneAsync(Guid orderId, string sku, int quantity, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = new NpgsqlCommand(ReserveSql, connection);
                command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = quantity });
                if (await command.ExecuteScalarAsync(cancellationToken) is long remaining)
                    return new LinesReserve(ReserveOutcome.Reserved, [new ReservedLine(sku, quantity, remaining)]);
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                // A concurrent reserve or release for this order id won; the statement rolled back. Explain below.
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < DeadlockAttempts)
            {
                // Rolled back whole: run again (see DeadlockAttempts).
            }
        }

        await using var explain = new NpgsqlCommand(ExplainSql, connection);
        explain.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        await using var reader = await explain.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);

        if (!reader.IsDBNull(3))
        {
            if (reader.GetString(3) == ReservationStatus.Released) return new LinesReserve(ReserveOutcome.Released, []);
            if (reader.IsDBNull(0)) return new LinesReserve(ReserveOutcome.OtherLines, []); // a multi-line reservation
            var first = new ReservedLine(reader.GetString(0), reader.GetInt32(1), reader.GetInt64(2));
            return new LinesReserve(first.ItemSku == sku && first.Quantity == quantity ? ReserveOutcome.Reserved : ReserveOutcome.OtherLines, [first]);
        }
        return reader.GetBoolean(4)
            ? new LinesReserve(ReserveOutcome.InsufficientStock, [], new Dictionary<string, string[]> { [sku] = [$"not enough available stock to reserve {quantity}."] })
            : new LinesReserve(ReserveOutcome.UnknownItem, [], new Dictionary<string, string[]> { [sku] = ["no such item."] });
    }

    // ---- multi-line reserve -------------------------------------------------------------------------

    // The whole reserve in one statement, the one-line reserve's shape for many lines. Lock order: item rows first, in
    // SKU order ("C" collation: byte order; FOR UPDATE after ORDER BY locks rows as the sort emits them, at their latest
    // version), then the order id's reservation row. A one-line reserve locks its one item, then inserts its reservation
    // row: item rows are always taken in one order and nobody waits for an item while holding a reservation row's
    // insert, so two reserves (whatever their forms and order ids) never deadlock. The NOT EXISTS keeps a repeat from
    // locking anything; the reservation row is inserted only when every line is known and fits, and only the statement
    // that inserts it takes stock and writes the lines (a concurrent reserve of the order id that commits first makes
    // the insert do nothing, so nothing is taken).
    private const string ReserveLinesSql = """
        WITH wanted AS (
            SELECT sku, quantity, line FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS w(sku, quantity, line)),
        locked AS MATERIALIZED (
            SELECT i.sku, i.available FROM items i
            WHERE i.sku = ANY($2) AND NOT EXISTS (SELECT 1 FROM reservations WHERE order_id = $1)
            ORDER BY i.sku FOR UPDATE),
        fits AS MATERIALIZED (
            SELECT count(*) = cardinality($2::text[]) AND bool_and(l.available >= w.quantity) AS ok
            FROM wanted w JOIN locked l ON l.sku = w.sku),
        header AS (
            INSERT INTO reservations (order_id, sku, quantity, remaining, status)
            SELECT $1, NULL, $4, NULL, 'RESERVED' FROM fits WHERE ok
            ON CONFLICT (order_id) DO NOTHING
            RETURNING order_id),
        taken AS (
            UPDATE items i SET available = i.available - w.quantity, updated_at = now()
            FROM wanted w, header h WHERE i.sku = w.sku
            RETURNING i.sku, i.available),
        held AS (
            INSERT INTO reservation_lines (order_id, sku, line, quantity, remaining)
            SELECT $1, w.sku, w.line, w.quantity, t.available FROM taken t JOIN wanted w ON w.sku = t.sku
            RETURNING sku, remaining)
        SELECT w.sku, l.available, h.remaining
        FROM wanted w LEFT JOIN locked l ON l.sku = w.sku LEFT JOIN held h ON h.sku = w.sku
        ORDER BY w.line
        """;

    private const string ReadHeaderSql = "SELECT sku, quantity, remaining, status FROM reservations WHERE order_id = $1";
    private const string ReadLinesSql = "SELECT sku, quantity, remaining FROM reservation_lines WHERE order_id = $1 ORDER BY line";

    /// <summary>
    /// Reserves every line or none: <paramref name="lines"/> (two or more, each SKU once) all held for the order, or nothing
    /// held and every short or unknown SKU named. Idempotent on the order id, lines compared as a set. Alone in one
    /// statement, or with the concurrent reserves of its group (<see cref="ReserveGroupAsync"/>); not cancelled once queued.
    /// </summary>
    public Task<LinesReserve> ReserveLinesAsync(Guid orderId, IReadOnlyList<ReserveLine> lines) => ReserveAsync(new ReserveCall(orderId, lines));

    /// <summary>A multi-line reserve in its own statement (<see cref="ReserveLinesSql"/>).</summary>
    private async Task<LinesReserve> ReserveLinesAloneAsync(Guid orderId, IReadOnlyList<ReserveLine> lines, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        var remaining = new long?[lines.Count];
        var available = new long?[lines.Count];
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = new NpgsqlCommand(ReserveLinesSql, connection);
                command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. lines.Select(l => l.ItemSku)] });
                command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. lines.Select(l => l.Quantity)] });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = lines.Sum(l => l.Quantity) });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                for (var i = 0; await reader.ReadAsync(cancellationToken); i++)
                {
                    available[i] = reader.IsDBNull(1) ? null : reader.GetInt64(1);
                    remaining[i] = reader.IsDBNull(2) ? null : reader.GetInt64(2);
                }
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < DeadlockAttempts)
            {
                // Rolled back whole: run again (see DeadlockAttempts).
            }
        }
        if (remaining.All(r => r is not null))
            return new LinesReserve(ReserveOutcome.Reserved, [.. lines.Select((l, i) => new ReservedLine(l.ItemSku, l.Quantity, remaining[i]!.Value))]);

        // Nothing taken. A reservation of the order id (read now, with a fresh snapshot: it may have committed while this
        // statement waited for the items) answers first; without one, the locked rows say which lines broke the reserve.
        if (await ReadReservationAsync(connection, orderId, lines, cancellationToken) is { } existing) return existing;
        var reasons = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var unknown = false;
        for (var i = 0; i < lines.Count; i++)
        {
            if (available[i] is not { } stock)
            {
                reasons[lines[i].ItemSku] = ["no such item."];
                unknown = true;
            }
            else if (stock < lines[i].Quantity)
                reasons[lines[i].ItemSku] = [$"{stock} available, {lines[i].Quantity} wanted."];
        }
        if (reasons.Count == 0)
            throw new InvalidOperationException($"The reserve of order {orderId} took nothing, though every line fit and the order holds no reservation.");
        return new LinesReserve(unknown ? ReserveOutcome.UnknownItem : ReserveOutcome.InsufficientStock, [], reasons);
    }

    /// <summary>The order's reservation replayed when it holds the same lines (as a set), else why not; null when it has none.</summary>
    private static async Task<LinesReserve?> ReadReservationAsync(NpgsqlConnection connection, Guid orderId, IReadOnlyList<ReserveLine> lines,
        CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        var header = new NpgsqlBatchCommand(ReadHeaderSql);
        header.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        var held = new NpgsqlBatchCommand(ReadLinesSql);
        held.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        batch.BatchCommands.Add(header);
        batch.BatchCommands.Add(held);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        if (reader.GetString(3) == ReservationStatus.Released) return new LinesReserve(ReserveOutcome.Released, []);
        var stored = new List<ReservedLine>();
        if (!reader.IsDBNull(0)) stored.Add(new ReservedLine(reader.GetString(0), reader.GetInt32(1), reader.GetInt64(2)));
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            stored.Add(new ReservedLine(reader.GetString(0), reader.GetInt32(1), reader.GetInt64(2)));

        return Replay(ReservationStatus.Reserved, stored, lines);
    }

    // ---- coalesced reserves ------------------------------------------------------------------------

    /// <summary>
    /// Attempts of a group that lost a race it cannot settle alone: a deadlock's victim, or a reservation of one of its order
    /// ids that another transaction inserted between the group's read and its write. Either rolls back the whole group;
    /// the next attempt reads again (and answers that order from its reservation). Past the last attempt the coalescer runs
    /// the group's calls one by one.
    /// </summary>
    private const int GroupAttempts = 3;

    // The group's statements take arrays (= ANY, unnest) and are auto-prepared. A generic plan made while the tables were
    // small (a fresh database, before autovacuum first analyzes them) scans them whole, and stays cached as they grow: a
    // measured sequential scan of reservations per group (bench/hot-sku.sh on a fresh system ran at half speed). Planned
    // per execution instead, with the group's real arrays and the tables' current sizes; once per group, so cheap.
    private const string CustomPlansSql = "SET LOCAL plan_cache_mode = force_custom_plan";

    // 1. Lock every item the group names, in SKU order ("C" collation), as one statement: the lock order of every reserve.
    //    Then (each statement of the batch with a fresh snapshot, so after the locks) the order ids' reservations.
    private const string LockItemsSql = "SELECT sku, available FROM items WHERE sku = ANY($1) ORDER BY sku FOR UPDATE";
    private const string ReadHeadersSql = "SELECT order_id, sku, quantity, remaining, status FROM reservations WHERE order_id = ANY($1)";
    private const string ReadGroupLinesSql =
        "SELECT order_id, sku, quantity, remaining FROM reservation_lines WHERE order_id = ANY($1) ORDER BY order_id, line";

    // 2. Everything the group decided, in one statement: the reservations (in order id order, so two groups inserting the
    //    same ids wait on each other in one order), their lines, and one UPDATE per item by the group's total. A plain
    //    INSERT: a reservation another transaction made meanwhile raises 23505 and the group runs again. The items' CHECK
    //    (available >= 0) stands behind the decision: a group that would take too much fails whole.
    private const string WriteGroupSql = """
        WITH header AS (
            INSERT INTO reservations (order_id, sku, quantity, remaining, status)
            SELECT h.order_id, h.sku, h.quantity, h.remaining, 'RESERVED'
            FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[]) AS h(order_id, sku, quantity, remaining)
            ORDER BY h.order_id),
        held AS (
            INSERT INTO reservation_lines (order_id, sku, line, quantity, remaining)
            SELECT * FROM unnest($5::uuid[], $6::text[], $7::smallint[], $8::int[], $9::bigint[])),
        taken AS (
            UPDATE items i SET available = i.available - t.quantity, updated_at = now()
            FROM unnest($10::text[], $11::bigint[]) AS t(sku, quantity)
            WHERE i.sku = t.sku
            RETURNING 1)
        SELECT count(*) FROM taken
        """;

    /// <summary>
    /// Reserves for a group of concurrent calls in one transaction and one commit. Alone, a call runs its own statement
    /// (one round trip, no explicit transaction). Together: lock the items (SKU order), read the order ids' reservations,
    /// decide in order of arrival (a repeat answers from the reservation; each order takes every line or none, so a short
    /// or unknown order fails alone and the next one still may fit), write it all in one statement, commit.
    /// </summary>
    internal async Task<IReadOnlyList<LinesReserve>> ReserveGroupAsync(IReadOnlyList<ReserveCall> calls)
    {
        if (calls.Count == 1)
        {
            var (orderId, lines) = calls[0];
            return [lines is [var only]
                ? await ReserveOneAloneAsync(orderId, only.ItemSku, only.Quantity, CancellationToken.None)
                : await ReserveLinesAloneAsync(orderId, lines, CancellationToken.None)];
        }

        await using var connection = await db.OpenConnectionAsync(CancellationToken.None);
        for (var attempt = 1; ; attempt++)
        {
            await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None);
            try
            {
                await using (var customPlans = new NpgsqlCommand(CustomPlansSql, connection))
                    await customPlans.ExecuteNonQueryAsync(CancellationToken.None);
                var answers = await ReserveGroupOnceAsync(connection, calls);
                await transaction.CommitAsync(CancellationToken.None);
                return answers;
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.UniqueViolation
                                              && attempt < GroupAttempts)
            {
                // Rolled back whole (see GroupAttempts): run again.
                await transaction.RollbackAsync(CancellationToken.None);
            }
        }
    }

    private static async Task<LinesReserve[]> ReserveGroupOnceAsync(NpgsqlConnection connection, IReadOnlyList<ReserveCall> calls)
    {
        var skus = calls.SelectMany(c => c.Lines, (_, l) => l.ItemSku).Distinct(StringComparer.Ordinal).ToArray();
        var orderIds = calls.Select(c => c.OrderId).Distinct().ToArray();
        var available = new Dictionary<string, long>(skus.Length, StringComparer.Ordinal);
        var stored = new Dictionary<Guid, (string Status, List<ReservedLine> Lines)>();

        await using (var read = new NpgsqlBatch(connection))
        {
            read.BatchCommands.Add(new NpgsqlBatchCommand(LockItemsSql) { Parameters = { new NpgsqlParameter<string[]> { TypedValue = skus } } });
            read.BatchCommands.Add(new NpgsqlBatchCommand(ReadHeadersSql) { Parameters = { new NpgsqlParameter<Guid[]> { TypedValue = orderIds } } });
            read.BatchCommands.Add(new NpgsqlBatchCommand(ReadGroupLinesSql) { Parameters = { new NpgsqlParameter<Guid[]> { TypedValue = orderIds } } });
            await using var reader = await read.ExecuteReaderAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None)) available[reader.GetString(0)] = reader.GetInt64(1);
            await reader.NextResultAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
            {
                List<ReservedLine> lines = reader.IsDBNull(1) ? [] : [new ReservedLine(reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3))];
                stored[reader.GetGuid(0)] = (reader.GetString(4), lines);
            }
            await reader.NextResultAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
                stored[reader.GetGuid(0)].Lines.Add(new ReservedLine(reader.GetString(1), reader.GetInt32(2), reader.GetInt64(3)));
        }

        // Decide in order of arrival, on the locked stock.
        var answers = new LinesReserve[calls.Count];
        var reservedBy = new Dictionary<Guid, int>();
        var write = new GroupWrite();
        for (var i = 0; i < calls.Count; i++)
        {
            var (orderId, lines) = calls[i];
            if (stored.TryGetValue(orderId, out var reservation))
                answers[i] = Replay(reservation.Status, reservation.Lines, lines);
            else if (reservedBy.TryGetValue(orderId, out var first))
                // The same order id earlier in this group: it answers as a repeat of that reserve would once committed.
                answers[i] = Replay(ReservationStatus.Reserved, answers[first].Lines, lines);
            else
            {
                answers[i] = Decide(lines, available);
                if (answers[i].Outcome != ReserveOutcome.Reserved) continue;
                reservedBy[orderId] = i;
                write.Add(orderId, answers[i].Lines);
            }
        }
        if (write.IsEmpty) return answers;

        await using var command = new NpgsqlCommand(WriteGroupSql, connection);
        write.AddParameters(command.Parameters);
        var updated = (long)(await command.ExecuteScalarAsync(CancellationToken.None))!;
        if (updated != write.Items)
            throw new InvalidOperationException($"A reserve group updated {updated} items, not the {write.Items} it locked.");
        return answers;
    }

    /// <summary>Takes every line of an order from <paramref name="available"/> (the group's running stock), or none.</summary>
    private static LinesReserve Decide(IReadOnlyList<ReserveLine> lines, Dictionary<string, long> available)
    {
        Dictionary<string, string[]>? reasons = null;
        var unknown = false;
        foreach (var line in lines)
        {
            if (!available.TryGetValue(line.ItemSku, out var stock))
            {
                (reasons ??= new(StringComparer.Ordinal))[line.ItemSku] = ["no such item."];
                unknown = true;
            }
            else if (stock < line.Quantity)
                (reasons ??= new(StringComparer.Ordinal))[line.ItemSku] = [$"{stock} available, {line.Quantity} wanted."];
        }
        if (reasons is not null) return new LinesReserve(unknown ? ReserveOutcome.UnknownItem : ReserveOutcome.InsufficientStock, [], reasons);

        var reserved = new ReservedLine[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            reserved[i] = new ReservedLine(line.ItemSku, line.Quantity, available[line.ItemSku] -= line.Quantity);
        }
        return new LinesReserve(ReserveOutcome.Reserved, reserved);
    }

    /// <summary>An order id's reservation answering a reserve: the same lines (as a set) replay it; other lines are refused.</summary>
    private static LinesReserve Replay(string status, IReadOnlyList<ReservedLine> stored, IReadOnlyList<ReserveLine> lines)
    {
        if (status == ReservationStatus.Released) return new LinesReserve(ReserveOutcome.Released, []);
        var same = stored.Count == lines.Count
            && stored.ToDictionary(l => l.ItemSku, l => l.Quantity, StringComparer.Ordinal) is var byItem
            && lines.All(l => byItem.TryGetValue(l.ItemSku, out var quantity) && quantity == l.Quantity);
        return new LinesReserve(same ? ReserveOutcome.Reserved : ReserveOutcome.OtherLines, stored);
    }

    /// <summary>The rows a group writes, as the arrays of <see cref="WriteGroupSql"/>.</summary>
    private sealed class GroupWrite
    {
        private readonly List<Guid> _headerIds = [];
        private readonly List<string?> _headerSkus = [];
        private readonly List<int> _headerQuantities = [];
        private readonly List<long?> _headerRemaining = [];
        private readonly List<Guid> _lineIds = [];
        private readonly List<string> _lineSkus = [];
        private readonly List<short> _lineNumbers = [];
        private readonly List<int> _lineQuantities = [];
        private readonly List<long> _lineRemaining = [];
        private readonly SortedDictionary<string, long> _taken = new(StringComparer.Ordinal);

        public bool IsEmpty => _headerIds.Count == 0;
        public int Items => _taken.Count;

        /// <summary>One reservation: a one-line order is its header alone; a longer one a header (total units) and its lines.</summary>
        public void Add(Guid orderId, IReadOnlyList<ReservedLine> lines)
        {
            _headerIds.Add(orderId);
            if (lines is [var only])
            {
                _headerSkus.Add(only.ItemSku);
                _headerQuantities.Add(only.Quantity);
                _headerRemaining.Add(only.Remaining);
            }
            else
            {
                _headerSkus.Add(null);
                _headerQuantities.Add(lines.Sum(l => l.Quantity));
                _headerRemaining.Add(null);
                for (var i = 0; i < lines.Count; i++)
                {
                    _lineIds.Add(orderId);
                    _lineSkus.Add(lines[i].ItemSku);
                    _lineNumbers.Add((short)(i + 1));
                    _lineQuantities.Add(lines[i].Quantity);
                    _lineRemaining.Add(lines[i].Remaining);
                }
            }
            foreach (var line in lines) _taken[line.ItemSku] = _taken.GetValueOrDefault(line.ItemSku) + line.Quantity;
        }

        public void AddParameters(NpgsqlParameterCollection p)
        {
            p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. _headerIds] });
            p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. _headerSkus] });
            p.Add(new NpgsqlParameter<int[]> { TypedValue = [.. _headerQuantities] });
            p.Add(new NpgsqlParameter<long?[]> { TypedValue = [.. _headerRemaining] });
            p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. _lineIds] });
            p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. _lineSkus] });
            p.Add(new NpgsqlParameter<short[]> { TypedValue = [.. _lineNumbers] });
            p.Add(new NpgsqlParameter<int[]> { TypedValue = [.. _lineQuantities] });
            p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. _lineRemaining] });
            p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. _taken.Keys] });
            p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. _taken.Values] });
        }
    }

    // 1. An order id never seen before gets a tombstone, so a late reserve for it is refused.
    private const string TombstoneSql = """
        INSERT INTO reservations (order_id, sku, quantity, status) VALUES ($1, NULL, 0, 'RELEASED')
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
        """;

    // 2. Otherwise flip RESERVED -> RELEASED and give every line's stock back, in one statement: only the call that
    //    flips the status restores anything. Its item rows are locked in SKU order, like a reserve's, so two releases or
    //    a release and a reserve of other order ids never wait on each other in a cycle.
    private const string ReleaseSql = """
        WITH rel AS (
            UPDATE reservations SET status = 'RELEASED', updated_at = now()
            WHERE order_id = $1 AND status = 'RESERVED'
            RETURNING order_id, sku, quantity),
        given AS MATERIALIZED (
            SELECT sku, quantity FROM rel WHERE sku IS NOT NULL
            UNION ALL
            SELECT l.sku, l.quantity FROM reservation_lines l JOIN rel ON rel.sku IS NULL AND l.order_id = rel.order_id),
        locked AS MATERIALIZED (
            SELECT i.sku FROM items i WHERE i.sku IN (SELECT sku FROM given) ORDER BY i.sku FOR UPDATE OF i)
        UPDATE items i SET available = i.available + g.quantity, updated_at = now()
        FROM given g JOIN locked k ON k.sku = g.sku
        WHERE i.sku = g.sku
        RETURNING g.quantity
        """;

    /// <summary>Gives the order's reservation back, every line (once), or leaves a tombstone; the units it held (0 for a tombstone).</summary>
    public async Task<int> ReleaseAsync(Guid orderId, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (await TryReleaseAsync(connection, orderId, cancellationToken) is { } quantity) return quantity;
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < DeadlockAttempts)
            {
                // Rolled back whole: run again (see DeadlockAttempts).
            }
        }

        // Released earlier (by another call): same answer, nothing restored.
        await using var read = new NpgsqlCommand("SELECT quantity FROM reservations WHERE order_id = $1", connection);
        read.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        return await read.ExecuteScalarAsync(cancellationToken) as int? ?? 0;
    }

    /// <summary>0 for a new tombstone, the units given back by this call, or null when the order was released before.</summary>
    private static async Task<int?> TryReleaseAsync(NpgsqlConnection connection, Guid orderId, CancellationToken cancellationToken)
    {
        // Both statements in one round trip. Each takes its own snapshot (read committed), so step 2 sees
        // a reservation that a concurrent reserve committed while step 1 waited on it. After a tombstone
        // insert, step 2 finds nothing RESERVED and does nothing.
        await using var batch = new NpgsqlBatch(connection);
        var tombstone = new NpgsqlBatchCommand(TombstoneSql);
        tombstone.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        var release = new NpgsqlBatchCommand(ReleaseSql);
        release.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        batch.BatchCommands.Add(tombstone);
        batch.BatchCommands.Add(release);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var tombstoned = await reader.ReadAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        int? given = tombstoned ? 0 : null;
        while (await reader.ReadAsync(cancellationToken)) given = (given ?? 0) + reader.GetInt32(0);
        return given;
    }
}
