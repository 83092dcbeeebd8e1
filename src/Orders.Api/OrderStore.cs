using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Oms.ServiceDefaults;

namespace Orders.Api;

/// <summary>An order as stored, with the lease fields the saga and the recovery worker need.</summary>
public sealed record OrderRow(
    Guid OrderId,
    string IdempotencyKey,
    string? ItemSku,
    int Quantity,
    decimal Amount,
    string Status,
    string? FailureReason,
    string? CompensateReason,
    string? StuckAt,
    bool InRequest,
    Guid LeaseToken,
    bool LeaseLive,
    int Attempts,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    TimeSpan LeaseLeft,
    long ReadAt,
    IReadOnlyList<OrderLine>? MultiLines,
    bool CancelRequested)
{
    /// <summary>
    /// Whatever the order holds must be given back before it can end: it was decided to fail, or its cancel is recorded.
    /// </summary>
    public bool MustCompensate => CompensateReason is not null || CancelRequested;

    /// <summary>Every line of the order, in request order (a one-line order's is its item_sku and quantity).</summary>
    public IReadOnlyList<OrderLine> Lines => MultiLines ?? [new OrderLine(ItemSku!, Quantity)];

    /// <summary>
    /// Whether the lease this row was read with is certainly still ours. <see cref="ReadAt"/> is taken before the
    /// statement was sent, so ReadAt + LeaseLeft is never later than the lease's end in the database.
    /// </summary>
    public bool HoldsLease() => Stopwatch.GetElapsedTime(ReadAt) < LeaseLeft;

    public OrderResponse ToResponse() =>
        new(OrderId, Status, ItemSku, Quantity, Lines, Amount, IdempotencyKey, FailureReason, CreatedAt, UpdatedAt);
}

/// <summary>
/// The orders table. Every state change is one conditional statement that only the holder of the
/// current lease token can make, so a request and the recovery worker can never both advance an order.
/// </summary>
public sealed class OrderStore : IAsyncDisposable
{
    private const string Columns =
        "order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, compensate_reason, stuck_at, " +
        "in_request, lease_token, lease_until > now(), attempts, created_at, updated_at, greatest(lease_until - now(), interval '0'), lines::text, " +
        "cancel_requested_at IS NOT NULL";

    private readonly NpgsqlDataSource db;
    // The event-writing statements, with or without their outbox rows: chosen once, built once per process.
    private readonly EventStatements sql;
    // The two writes every order makes. Under load concurrent requests share one statement and one commit each.
    private readonly Coalescer<NewOrder, OrderRow?> inserts;
    private readonly Coalescer<OrderRow, OrderRow?> confirms;

    private sealed record NewOrder(Guid OrderId, string ApiKeyName, string Key, string Sku, int Quantity, decimal Amount, Guid LeaseToken, TimeSpan Lease);

    /// <param name="publishing">
    /// Whether events are published to other systems (<see cref="EventPublishing"/>): then every event-writing statement
    /// also writes its outbox row. Absent (no <c>AddOrderEvents</c>), nothing is published.
    /// </param>
    public OrderStore(NpgsqlDataSource db, IOptions<CoalescingOptions> coalescing, EventPublishing? publishing = null)
    {
        this.db = db;
        sql = publishing?.Enabled == true ? EventStatements.WithOutbox : EventStatements.WithoutOutbox;
        // PostgreSQL refusing a group's statement may be one call's doing: those run again alone.
        inserts = new Coalescer<NewOrder, OrderRow?>(coalescing.Value, InsertGroupAsync, DatabaseErrors.IsRefusedStatement);
        confirms = new Coalescer<OrderRow, OrderRow?>(coalescing.Value, ConfirmGroupAsync, DatabaseErrors.IsRefusedStatement);
    }

    /// <summary>
    /// Inserts a new PENDING order leased to the calling request; null when the API key (<paramref name="apiKeyName"/>,
    /// "" when open) already used the idempotency key.
    /// </summary>
    public Task<OrderRow?> TryInsertAsync(Guid orderId, string key, string sku, int quantity, decimal amount,
        Guid leaseToken, TimeSpan lease, string apiKeyName = "") =>
        inserts.RunAsync(new NewOrder(orderId, apiKeyName, key, sku, quantity, amount, leaseToken, lease));

    /// <summary>
    /// <see cref="TryInsertAsync(Guid, string, string, int, decimal, Guid, TimeSpan, string)"/> for an order of any number of
    /// lines (distinct SKUs, request order). One line is stored as the one-line form, so both forms of it are the same order.
    /// </summary>
    public Task<OrderRow?> TryInsertAsync(Guid orderId, string key, IReadOnlyList<OrderLine> lines, decimal amount,
        Guid leaseToken, TimeSpan lease, string apiKeyName = "") =>
        lines.Count == 1
            ? TryInsertAsync(orderId, key, lines[0].ItemSku, lines[0].Quantity, amount, leaseToken, lease, apiKeyName)
            : InsertLinesAsync(new NewOrder(orderId, apiKeyName, key, "", lines.Sum(l => l.Quantity), amount, leaseToken, lease), lines);

    // Multi-line orders are not coalesced: the one-line form is the hot path, and one statement per order keeps this simple.
    private async Task<OrderRow?> InsertLinesAsync(NewOrder o, IReadOnlyList<OrderLine> lines)
    {
        await using var command = db.CreateCommand(sql.InsertLines);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = o.OrderId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = o.Key });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = o.Quantity });
        command.Parameters.Add(new NpgsqlParameter<decimal> { TypedValue = o.Amount });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = o.LeaseToken });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = o.Lease });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = o.ApiKeyName });
        command.Parameters.Add(new NpgsqlParameter<string>
        {
            TypedValue = JsonSerializer.Serialize(lines.ToArray(), OrdersJsonContext.Default.OrderLineArray), NpgsqlDbType = NpgsqlDbType.Jsonb,
        });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. lines.Select(l => l.ItemSku)] });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. lines.Select(l => l.Quantity)] });
        return await ReadOneAsync(command, CancellationToken.None);
    }

    /// <summary>PENDING → CONFIRMED, unless the order was decided to fail or someone else holds the lease.</summary>
    public Task<OrderRow?> ConfirmAsync(OrderRow order) => confirms.RunAsync(order);

    private async Task<IReadOnlyList<OrderRow?>> InsertGroupAsync(IReadOnlyList<NewOrder> orders)
    {
        if (orders.Count == 1)
        {
            var o = orders[0];
            await using var one = db.CreateCommand(sql.InsertOne);
            one.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = o.OrderId });
            one.Parameters.Add(new NpgsqlParameter<string> { TypedValue = o.Key });
            one.Parameters.Add(new NpgsqlParameter<string> { TypedValue = o.Sku });
            one.Parameters.Add(new NpgsqlParameter<int> { TypedValue = o.Quantity });
            one.Parameters.Add(new NpgsqlParameter<decimal> { TypedValue = o.Amount });
            one.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = o.LeaseToken });
            one.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = o.Lease });
            one.Parameters.Add(new NpgsqlParameter<string> { TypedValue = o.ApiKeyName });
            return [await ReadOneAsync(one, CancellationToken.None)];
        }

        // Rows go in (API key, key) order, so two groups holding the same keys wait on each other in one order, never in a cycle.
        // A key twice in one group inserts once; the other call gets null and answers as a replay.
        await using var command = db.CreateCommand(sql.InsertGroup);
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. orders.Select(o => o.OrderId)] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. orders.Select(o => o.Key)] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. orders.Select(o => o.Sku)] });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. orders.Select(o => o.Quantity)] });
        command.Parameters.Add(new NpgsqlParameter<decimal[]> { TypedValue = [.. orders.Select(o => o.Amount)] });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. orders.Select(o => o.LeaseToken)] });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan[]> { TypedValue = [.. orders.Select(o => o.Lease)] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. orders.Select(o => o.ApiKeyName)] });
        return InOrder(await ReadAllAsync(command, CancellationToken.None), orders, o => o.OrderId);
    }

    private async Task<IReadOnlyList<OrderRow?>> ConfirmGroupAsync(IReadOnlyList<OrderRow> orders)
    {
        if (orders.Count == 1) return [await UpdateAsync(orders[0], sql.ConfirmOne, null, CancellationToken.None)];

        await using var command = db.CreateCommand(sql.ConfirmGroup);
        // Orders of two groups never overlap (each is confirmed by the request that holds its lease); in id order anyway.
        var sorted = orders.OrderBy(o => o.OrderId).ToArray();
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. sorted.Select(o => o.OrderId)] });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. sorted.Select(o => o.LeaseToken)] });
        return InOrder(await ReadAllAsync(command, CancellationToken.None), orders, o => o.OrderId);
    }

    private const string ConfirmSet = "status = 'CONFIRMED', in_request = false";

    // The events of each transition, as (type, data) with data an SQL expression over the order's new row `o`.
    // A confirm records the facts it rests on too: the stock was held and the payment authorized (one statement, not three).
    private static readonly (string Type, string Data)[] Created =
    [
        (OrderEvents.Created, "jsonb_build_object('items', coalesce(o.lines, jsonb_build_array(jsonb_build_object('item_sku', o.item_sku, " +
                              "'quantity', o.quantity))), 'amount', o.amount)"),
    ];
    private static readonly (string Type, string Data)[] Confirmed =
    [
        (OrderEvents.StockReserved, "'{}'::jsonb"),
        (OrderEvents.PaymentAuthorized, "jsonb_build_object('amount', o.amount)"),
        (OrderEvents.Confirmed, "'{}'::jsonb"),
    ];
    // An order that had to give everything back ends FAILED, or CANCELLED when its cancel was recorded (see FinishAsync).
    private static readonly (string Type, string Data)[] FailedOrCancelled =
    [
        ($"CASE o.status WHEN 'CANCELLED' THEN '{OrderEvents.Cancelled}' ELSE '{OrderEvents.Failed}' END",
         "CASE o.status WHEN 'CANCELLED' THEN '{}'::jsonb ELSE jsonb_build_object('failure_reason', o.failure_reason) END"),
    ];
    private static readonly (string Type, string Data)[] CancelRequested =
    [
        (OrderEvents.CancelRequested, "jsonb_strip_nulls(jsonb_build_object('reason', $4::text))"),
    ];

    /// <summary>The coalesced confirm as published (with its outbox row): $1 the order ids, $2 their lease tokens (the hot path's second write).</summary>
    internal static string ConfirmGroupSql => EventStatements.WithOutbox.ConfirmGroup;

    /// <summary>
    /// Every statement that writes events, built once: <see cref="WithOutbox"/> when events are published (each also
    /// writes its outbox row), <see cref="WithoutOutbox"/> when not (the statements of a system that publishes nothing).
    /// </summary>
    private sealed class EventStatements
    {
        // Built on first use (the first OrderStore), from OrderStore's event lists above.
        public static readonly EventStatements WithOutbox = new(outbox: true);
        public static readonly EventStatements WithoutOutbox = new(outbox: false);

        public readonly string InsertOne, InsertGroup, InsertLines, ConfirmOne, ConfirmGroup, Finish, RequestCancel;

        private EventStatements(bool outbox)
        {
            InsertOne = WithEvents(outbox,
                """
                INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, api_key_name, last_sequence)
                VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, now() + $7, $8, 1)
                ON CONFLICT (api_key_name, idempotency_key) DO NOTHING
                RETURNING *
                """, Created);
            // Rows in (API key, key) order: see InsertGroupAsync.
            InsertGroup = WithEvents(outbox,
                """
                INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, api_key_name, last_sequence)
                SELECT o, k, s, q, a, 'PENDING', t, now() + l, n, 1
                FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::numeric[], $6::uuid[], $7::interval[], $8::text[])
                     AS u(o, k, s, q, a, t, l, n)
                ORDER BY n, k
                ON CONFLICT (api_key_name, idempotency_key) DO NOTHING
                RETURNING *
                """, Created);
            InsertLines = WithEvents(outbox,
                """
                INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, api_key_name,
                                    last_sequence, lines)
                VALUES ($1, $2, NULL, $3, $4, 'PENDING', $5, now() + $6, $7, 1, $8::jsonb)
                ON CONFLICT (api_key_name, idempotency_key) DO NOTHING
                RETURNING *
                """, Created,
                """
                l AS (INSERT INTO order_lines (order_id, item_sku, quantity, status, created_at)
                      SELECT o.order_id, u.s, u.q, o.status, o.created_at FROM o, unnest($9::text[], $10::int[]) AS u(s, q)
                      ORDER BY u.s)
                """);
            // $1 the order id, $2 its lease token.
            ConfirmOne = WithEvents(outbox, PendingUpdate(ConfirmSet, Confirmed.Length, ConfirmCondition), Confirmed);
            ConfirmGroup = WithEvents(outbox,
                $"""
                 UPDATE orders SET {ConfirmSet}, last_sequence = last_sequence + {Confirmed.Length}, updated_at = now()
                 FROM unnest($1::uuid[], $2::uuid[]) AS u(id, token)
                 WHERE order_id = u.id AND lease_token = u.token AND status = 'PENDING' {ConfirmCondition}
                 RETURNING orders.*
                 """, Confirmed);
            Finish = WithEvents(outbox,
                $"""
                 UPDATE orders SET status = CASE WHEN cancel_requested_at IS NULL THEN 'FAILED' ELSE 'CANCELLED' END,
                                   failure_reason = CASE WHEN cancel_requested_at IS NULL THEN compensate_reason END,
                                   in_request = false, last_sequence = last_sequence + {FailedOrCancelled.Length}, updated_at = now()
                 WHERE order_id = $1 AND lease_token = $2
                   AND ((status = 'PENDING' AND (compensate_reason IS NOT NULL OR cancel_requested_at IS NOT NULL))
                        OR (status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL))
                 RETURNING *
                 """, FailedOrCancelled);
            RequestCancel = WithEvents(outbox,
                $"""
                 UPDATE orders SET cancel_requested_at = now(), last_sequence = last_sequence + {CancelRequested.Length}, updated_at = now(),
                                   lease_token = CASE WHEN status = 'CONFIRMED' THEN $2 ELSE lease_token END,
                                   lease_until = CASE WHEN status = 'CONFIRMED' THEN now() + $3 ELSE lease_until END
                 WHERE order_id = $1 AND status IN ('PENDING', 'CONFIRMED') AND cancel_requested_at IS NULL
                 RETURNING *
                 """, CancelRequested);
        }
    }

    /// <summary>An UPDATE of a PENDING order by the holder of its lease ($1 order id, $2 lease token), RETURNING the whole row.</summary>
    private static string PendingUpdate(string set, int eventCount, string extraCondition) =>
        $"""
         UPDATE orders SET {set}, last_sequence = last_sequence + {eventCount}, updated_at = now()
         WHERE order_id = $1 AND lease_token = $2 AND status = 'PENDING' {extraCondition}
         RETURNING *
         """;

    // Records a failure decision ($3 the reason); no event: the order.failed event comes with the FAILED status.
    private static readonly string DecideFailureSql =
        $"WITH o AS ({PendingUpdate("compensate_reason = COALESCE(compensate_reason, $3)", 0, "")}) SELECT {Columns} FROM o";

    /// <summary>
    /// <paramref name="orderStatement"/> (an INSERT or UPDATE of orders that RETURNs the whole row and has already
    /// advanced last_sequence by the number of <paramref name="events"/>) with the events it records, in one statement:
    /// a row it does not write gets no event, and the sequence numbers are the ones it took. With <paramref name="outbox"/>
    /// it also writes one outbox row per order written, naming the sequences it took (migration 0008), for the relay.
    /// </summary>
    private static string WithEvents(bool outbox, string orderStatement, (string Type, string Data)[] events, string? alsoWith = null)
    {
        // A transition of a multi-line order moves its lines to the new status too (see migration 0005).
        alsoWith ??= orderStatement.TrimStart().StartsWith("UPDATE", StringComparison.Ordinal)
            ? "ls AS (UPDATE order_lines SET status = o.status FROM o WHERE o.lines IS NOT NULL AND order_lines.order_id = o.order_id " +
              "AND order_lines.status <> o.status)"
            : null;
        var values = string.Join(", ", events.Select((e, i) => $"({i + 1}, {(e.Type.StartsWith("order.", StringComparison.Ordinal) ? $"'{e.Type}'" : e.Type)}, {e.Data})"));
        return $"""
                WITH o AS ({orderStatement}),
                {(alsoWith is null ? "" : alsoWith + ",")}
                e AS (INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at, data)
                      SELECT gen_random_uuid(), o.order_id, o.last_sequence - {events.Length} + v.n, v.type, o.updated_at, v.data
                      FROM o CROSS JOIN LATERAL (VALUES {values}) AS v(n, type, data)){(outbox ? "," : "")}
                {(outbox ? $"x AS (INSERT INTO outbox (order_id, first_sequence, last_sequence) SELECT o.order_id, o.last_sequence - {events.Length - 1}, o.last_sequence FROM o)" : "")}
                SELECT {Columns} FROM o
                """;
    }
    // Never once a failure is decided or a cancel recorded: a cancel racing the confirm either lands first (and the
    // confirm changes nothing) or finds the order CONFIRMED (and cancels it as such). The row lock orders the two.
    private const string ConfirmCondition = "AND compensate_reason IS NULL AND cancel_requested_at IS NULL";

    /// <summary>The returned rows matched to the calls by order id; null for a call whose row was not written.</summary>
    private static OrderRow?[] InOrder<T>(List<OrderRow> rows, IReadOnlyList<T> calls, Func<T, Guid> orderId)
    {
        var byId = rows.ToDictionary(r => r.OrderId);
        return [.. calls.Select(c => byId.GetValueOrDefault(orderId(c)))];
    }

    public async ValueTask DisposeAsync()
    {
        await inserts.DisposeAsync();
        await confirms.DisposeAsync();
    }

    public async Task<OrderRow?> GetAsync(Guid orderId, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM orders WHERE order_id = $1");
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>The order's events after <paramref name="afterSequence"/>, oldest first (the primary key's order).</summary>
    public async Task<List<OrderEventResponse>> EventsAsync(Guid orderId, int afterSequence, int limit, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            """
            SELECT event_id, order_id, sequence, type, occurred_at, data::text FROM order_events
            WHERE order_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = afterSequence });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var events = new List<OrderEventResponse>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            using var data = JsonDocument.Parse(reader.GetString(5));
            events.Add(new(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetString(3), reader.GetDateTime(4),
                data.RootElement.Clone()));
        }
        return events;
    }

    /// <summary>Whether an order with this id exists.</summary>
    public async Task<bool> ExistsAsync(Guid orderId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("SELECT EXISTS (SELECT FROM orders WHERE order_id = $1)");
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The order placed with this idempotency key while the endpoints were open (no API key).</summary>
    public Task<OrderRow?> GetByKeyAsync(string key, CancellationToken ct) => GetByKeyAsync("", key, ct);

    /// <summary>The order placed with this idempotency key by this API key ("" when open).</summary>
    public async Task<OrderRow?> GetByKeyAsync(string apiKeyName, string key, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM orders WHERE api_key_name = $1 AND idempotency_key = $2");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = apiKeyName });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = key });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>Records that the order will fail (keeping an earlier decision); compensation follows.</summary>
    public Task<OrderRow?> DecideFailureAsync(OrderRow order, string reason, CancellationToken ct) =>
        UpdateAsync(order, DecideFailureSql, reason, ct);

    /// <summary>
    /// Once compensation is done: CANCELLED when a cancel is recorded (a PENDING or a CONFIRMED order), otherwise
    /// PENDING → FAILED with the decided reason.
    /// </summary>
    public async Task<OrderRow?> FinishAsync(OrderRow order, CancellationToken ct)
    {
        await using var command = db.CreateCommand(sql.Finish);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.OrderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.LeaseToken });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>
    /// Records the cancel of a PENDING or CONFIRMED order with its order.cancel_requested event; null when the order is
    /// unknown, final or already being cancelled. A CONFIRMED order is leased to the caller (<paramref name="leaseToken"/>),
    /// who gives everything back; a PENDING one stays with whoever runs its saga, which can then no longer confirm it.
    /// </summary>
    public async Task<OrderRow?> RequestCancelAsync(Guid orderId, string? reason, Guid leaseToken, TimeSpan lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand(sql.RequestCancel);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = leaseToken });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = lease });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)reason ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>Leases a CONFIRMED order whose recorded cancel nobody is finishing (its lease ran out); null otherwise.</summary>
    public async Task<OrderRow?> TakeOverCancelAsync(Guid orderId, Guid leaseToken, TimeSpan lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            $"""
             UPDATE orders SET lease_token = $2, lease_until = now() + $3, updated_at = now()
             WHERE order_id = $1 AND status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL AND lease_until <= now()
             RETURNING {Columns}
             """);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = leaseToken });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = lease });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>Leaves the order PENDING for the recovery worker, to be retried after <paramref name="retryAfter"/>.</summary>
    public async Task<OrderRow?> ParkAsync(OrderRow order, string stuckAt, TimeSpan retryAfter, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            $"""
             UPDATE orders SET in_request = false, stuck_at = $3, lease_until = now() + $4, updated_at = now()
             WHERE order_id = $1 AND lease_token = $2 AND (status = 'PENDING' OR (status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL))
             RETURNING {Columns}
             """);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.OrderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.LeaseToken });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = stuckAt });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = retryAfter });
        return await ReadOneAsync(command, ct);
    }

    /// <summary>
    /// Takes over PENDING orders, and CONFIRMED orders with an unfinished cancel, whose lease has expired, with a fresh
    /// lease token each. SKIP LOCKED lets several replicas claim at once without waiting on or taking each other's rows.
    /// </summary>
    public async Task<List<OrderRow>> ClaimExpiredAsync(int batchSize, TimeSpan lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            $"""
             WITH cancelling AS (SELECT order_id, lease_until FROM orders
                                 WHERE status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL AND lease_until <= now()
                                 ORDER BY lease_until LIMIT $1
                                 FOR UPDATE SKIP LOCKED),
                  pending AS (SELECT order_id, lease_until FROM orders
                              WHERE status = 'PENDING' AND lease_until <= now()
                              ORDER BY lease_until LIMIT $1
                              FOR UPDATE SKIP LOCKED)
             UPDATE orders SET lease_token = gen_random_uuid(), lease_until = now() + $2, in_request = false,
                               attempts = attempts + 1, updated_at = now()
             WHERE order_id IN (SELECT order_id FROM (SELECT * FROM cancelling UNION ALL SELECT * FROM pending) AS due
                                ORDER BY lease_until LIMIT $1)
             RETURNING {Columns}
             """);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batchSize });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = lease });
        return await ReadAllAsync(command, ct);
    }

    /// <summary>
    /// Orders not final <paramref name="olderThan"/> after they should have been: PENDING orders created before then, and
    /// CONFIRMED orders whose cancel was recorded before then and is not finished (a cancel never gives up). Also the age
    /// of the oldest, counted from its creation or its cancel. Each part reads its own partial index.
    /// </summary>
    public async Task<(long Count, TimeSpan OldestAge)> CountPendingOlderThanAsync(TimeSpan olderThan, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            """
            SELECT count(*), coalesce(now() - min(since), interval '0') FROM (
                SELECT created_at AS since FROM orders WHERE status = 'PENDING' AND created_at < now() - $1
                UNION ALL
                SELECT cancel_requested_at FROM orders
                WHERE status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL AND cancel_requested_at < now() - $1
            ) AS unfinished
            """);
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = olderThan });
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetTimeSpan(1));
    }

    /// <summary>Newest first, keyset-paged on (created_at, order_id).</summary>
    public async Task<List<OrderRow>> ListAsync(string? status, string? sku, (DateTime CreatedAt, Guid OrderId)? after,
        int limit, CancellationToken ct)
    {
        await using var command = db.CreateCommand(ListSql(status, sku is not null, after is not null));
        command.Parameters.AddRange(ListParameters(sku, after, limit));
        return await ReadAllAsync(command, ct);
    }

    // Every status an order can have (the CHECK on orders.status), each with its own partial indexes (migration
    // 0002): a new status needs its indexes too, or lists of it and unfiltered lists walk the table.
    private static readonly IReadOnlyList<string> Statuses = OrderStatus.All;

    // One fixed text per filter combination. A generic "$n IS NULL OR ..." predicate cannot use an index for the
    // filter, so every filter walked the whole table (issue 10, item 8). The status is a literal, not a parameter:
    // only a literal lets the planner prove that a partial index WHERE status = '...' applies, custom plan or generic.
    private static readonly Dictionary<(string Status, bool BySku, bool AfterCursor), string> ListSqls =
        (from status in Statuses.Append("")
         from bySku in new[] { false, true }
         from afterCursor in new[] { false, true }
         select (status, bySku, afterCursor)).ToDictionary(k => k, k => BuildListSql(k.status, k.bySku, k.afterCursor));

    /// <summary>
    /// The SQL of one filter combination; <paramref name="status"/> is null or one of <see cref="OrderStatus.All"/>. Parameters
    /// as <see cref="ListParameters"/> makes them: $1 the limit, then the sku and the cursor's (created_at, order_id),
    /// each only when used. Every scan reads a partial index of migration 0002 in keyset order, so a page reads about
    /// <c>limit</c> rows whatever the filter matches.
    /// </summary>
    internal static string ListSql(string? status, bool bySku, bool afterCursor) =>
        ListSqls.TryGetValue((status ?? "", bySku, afterCursor), out var sql)
            ? sql : throw new ArgumentOutOfRangeException(nameof(status), status, "Not an order status.");

    internal static NpgsqlParameter[] ListParameters(string? sku, (DateTime CreatedAt, Guid OrderId)? after, int limit)
    {
        var parameters = new List<NpgsqlParameter>(4) { new NpgsqlParameter<int> { TypedValue = limit } };
        if (sku is not null) parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        if (after is { } cursor)
        {
            parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = cursor.CreatedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            parameters.Add(new NpgsqlParameter<Guid> { TypedValue = cursor.OrderId });
        }
        return [.. parameters];
    }

    // What Columns reads, for an order found from its line: the keyset columns are the line's (the same values), so the
    // planner sees them come sorted from order_lines_sku_newest and merges without sorting every candidate first.
    private const string LineKeyAndOrderColumns =
        "l.order_id, l.created_at, o.idempotency_key, o.item_sku, o.quantity, o.amount, o.status, o.failure_reason, o.compensate_reason, " +
        "o.stuck_at, o.in_request, o.lease_token, o.lease_until, o.attempts, o.updated_at, o.lines, o.cancel_requested_at";

    private static string BuildListSql(string status, bool bySku, bool afterCursor)
    {
        var next = 1; // $1 is the limit
        var sku = bySku ? $"${++next}" : "";
        var cursor = afterCursor ? $"(${++next}, ${++next})" : "";
        const string Newest = "ORDER BY created_at DESC, order_id DESC LIMIT $1";
        string Scan(string oneStatus) =>
            $"SELECT {Columns} FROM orders WHERE status = '{oneStatus}'" +
            (bySku ? $" AND item_sku = {sku}" : "") + (afterCursor ? $" AND (created_at, order_id) < {cursor}" : "") + $" {Newest}";

        // No status filter: the newest of each status, merged in order (a Merge Append that stops after $1 rows),
        // so the per-status indexes serve unfiltered lists too and no index of every order is needed.
        var scans = (status != "" ? [status] : Statuses).Select(Scan).ToList();
        if (bySku)
        {
            // Multi-line orders (item_sku NULL) with a line of this SKU, newest first through order_lines_sku_newest, one
            // scan per status like the orders above (a line's status is its order's, written in the same statement).
            scans.AddRange((status != "" ? [status] : Statuses).Select(oneStatus =>
                $"SELECT {Columns} FROM (SELECT {LineKeyAndOrderColumns} FROM order_lines l JOIN orders o ON o.order_id = l.order_id " +
                $"WHERE l.item_sku = {sku} AND l.status = '{oneStatus}'" + (afterCursor ? $" AND (l.created_at, l.order_id) < {cursor}" : "") +
                $" ORDER BY l.created_at DESC, l.order_id DESC LIMIT $1) AS m {Newest}"));
        }
        return scans.Count == 1 ? scans[0] : string.Join(" UNION ALL ", scans.Select(s => $"({s})")) + " " + Newest;
    }

    /// <summary>Runs <paramref name="statement"/> ($1 the order id, $2 its lease token, $3 <paramref name="reason"/> when given).</summary>
    private async Task<OrderRow?> UpdateAsync(OrderRow order, string statement, string? reason, CancellationToken ct)
    {
        await using var command = db.CreateCommand(statement);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.OrderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order.LeaseToken });
        if (reason is not null) command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = reason });
        return await ReadOneAsync(command, ct);
    }

    private static async Task<OrderRow?> ReadOneAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var sentAt = Stopwatch.GetTimestamp();
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader, sentAt) : null;
    }

    private static async Task<List<OrderRow>> ReadAllAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var rows = new List<OrderRow>();
        var sentAt = Stopwatch.GetTimestamp();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) rows.Add(Read(reader, sentAt));
        return rows;
    }

    private static OrderRow Read(NpgsqlDataReader r, long sentAt) => new(
        r.GetGuid(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt32(3), r.GetDecimal(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetString(6),
        r.IsDBNull(7) ? null : r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8),
        r.GetBoolean(9), r.GetGuid(10), r.GetBoolean(11), r.GetInt32(12),
        r.GetDateTime(13), r.GetDateTime(14), r.GetTimeSpan(15), sentAt,
        r.IsDBNull(16) ? null : JsonSerializer.Deserialize(r.GetString(16), OrdersJsonContext.Default.OrderLineArray),
        r.GetBoolean(17));
}
