using Npgsql;

namespace Oms.Chaos;

public sealed record OrderRow(Guid Id, string Key, decimal Amount, string Status, string? Reason, IReadOnlyList<OrderLine> Lines);

/// <summary>A reservation (or a tombstone: no lines) with the lines it holds or held.</summary>
public sealed record ReservationRow(Guid OrderId, string Status, IReadOnlyList<OrderLine> Lines)
{
    public override string ToString() => $"{Status} [{string.Join(", ", Lines)}]";
}

public sealed record PaymentRow(Guid OrderId, decimal Amount, string Status);

public sealed record EventRow(Guid EventId, Guid OrderId, int Sequence, string Type, string? FailureReason);

/// <summary>One delivery of a CloudEvent from <c>oms.events</c>: its id, subject (the order id) and <c>sequence</c> extension.</summary>
public sealed record Delivery(string Id, string Subject, long Sequence);

/// <summary>What the three databases hold after a run, read straight from their tables (never through the services).</summary>
public sealed record SystemSnapshot(
    IReadOnlyList<OrderRow> Orders,
    IReadOnlyDictionary<Guid, ReservationRow> Reservations,
    IReadOnlyDictionary<Guid, PaymentRow> Payments,
    IReadOnlyDictionary<string, long> Available,
    IReadOnlyList<EventRow> Events)
{
    /// <summary>Events in the outbox not yet confirmed by the broker (the relay's backlog), counted by sequence range.</summary>
    public static async Task<long> CountOutboxBacklogAsync(string ordersDb, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(Unpooled(ordersDb));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(sum(last_sequence - first_sequence + 1), 0)::bigint FROM outbox WHERE sent_at IS NULL", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The ids of every event of every timeline, as a consumer sees them (CloudEvent ids).</summary>
    public static async Task<HashSet<string>> EventIdsAsync(string ordersDb, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(Unpooled(ordersDb));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT event_id FROM order_events", connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetGuid(0).ToString());
        return ids;
    }

    // Where the lines live. An order's lines are in order_lines; one without rows there (stored before lines existed)
    // is its orders.item_sku/quantity. The same for a reservation and reservation_lines.
    private const string OrderLinesSql = "SELECT order_id, item_sku, quantity FROM order_lines";
    private const string ReservationLinesSql = "SELECT order_id, sku, quantity FROM reservation_lines";

    public static async Task<SystemSnapshot> ReadAsync(string ordersDb, string inventoryDb, string paymentsDb)
    {
        var orderLines = await LinesAsync(ordersDb, OrderLinesSql);
        var orders = await ReadAsync(ordersDb,
            "SELECT order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason FROM orders",
            r =>
            {
                var id = r.GetGuid(0);
                IReadOnlyList<OrderLine> lines = orderLines.TryGetValue(id, out var stored) ? stored
                    : r.IsDBNull(2) ? [] : [new OrderLine(r.GetString(2), r.GetInt32(3))];
                return new OrderRow(id, r.GetString(1), r.GetDecimal(4), r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), lines);
            });

        var reservationLines = await LinesAsync(inventoryDb, ReservationLinesSql);
        var reservations = (await ReadAsync(inventoryDb, "SELECT order_id, sku, quantity, status FROM reservations", r =>
        {
            var id = r.GetGuid(0);
            IReadOnlyList<OrderLine> lines = reservationLines.TryGetValue(id, out var stored) ? stored
                : r.IsDBNull(1) ? [] : [new OrderLine(r.GetString(1), r.GetInt32(2))];
            return new ReservationRow(id, r.GetString(3), lines);
        })).ToDictionary(r => r.OrderId);

        var payments = (await ReadAsync(paymentsDb, "SELECT order_id, amount, status FROM payments",
            r => new PaymentRow(r.GetGuid(0), r.GetDecimal(1), r.GetString(2)))).ToDictionary(p => p.OrderId);
        var available = (await ReadAsync(inventoryDb, "SELECT sku, available FROM items",
            r => (Sku: r.GetString(0), Available: r.GetInt64(1)))).ToDictionary(i => i.Sku, i => i.Available);
        var events = await ReadAsync(ordersDb,
            "SELECT event_id, order_id, sequence, type, data->>'failure_reason' FROM order_events ORDER BY order_id, sequence",
            r => new EventRow(r.GetGuid(0), r.GetGuid(1), r.GetInt32(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)));
        return new SystemSnapshot(orders, reservations, payments, available, events);
    }

    /// <summary>
    /// Orders not finished yet: PENDING, or CONFIRMED with a cancel requested (the cancel is durable before the payment is
    /// voided and the stock released; until then the order is still CONFIRMED).
    /// </summary>
    public static async Task<long> CountUnfinishedAsync(string ordersDb, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(Unpooled(ordersDb));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("""
            SELECT count(*) FROM orders o
            WHERE o.status = 'PENDING'
               OR o.status = 'CONFIRMED' AND EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND e.type = 'order.cancel_requested')
            """, connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    private static async Task<Dictionary<Guid, List<OrderLine>>> LinesAsync(string cs, string sql)
    {
        var lines = new Dictionary<Guid, List<OrderLine>>();
        foreach (var (orderId, line) in await ReadAsync(cs, sql, r => (r.GetGuid(0), new OrderLine(r.GetString(1), r.GetInt32(2)))))
        {
            if (!lines.TryGetValue(orderId, out var list)) lines[orderId] = list = [];
            list.Add(line);
        }
        return lines;
    }

    // The pool may hold connections of a PostgreSQL that was killed since.
    private static string Unpooled(string cs) => new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString;

    private static async Task<List<T>> ReadAsync<T>(string cs, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(Unpooled(cs));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync()) rows.Add(read(reader));
        return rows;
    }
}
