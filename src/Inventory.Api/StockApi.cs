using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Oms.ServiceDefaults;

namespace Inventory.Api;

/// <summary>
/// Stock levels and reservations. Every rule that must hold under concurrency (no negative stock,
/// one reservation per order id, stock given back once) is enforced by a single SQL statement.
/// </summary>
public static class StockApi
{
    public const string UnknownItem = "unknown_item";
    public const string InsufficientStock = "insufficient_stock";
    public const string IdempotencyKeyReused = "idempotency_key_reused";
    public const string ReservationReleased = "reservation_released";

    public const string Reserved = "RESERVED";
    public const string Released = "RELEASED";

    public const long MaxReceive = 1_000_000_000;
    public const long MaxSet = 1_000_000_000;
    public const long MaxReserve = 1_000_000;

    /// <summary>
    /// Ceiling for an item's available stock. Receiving past it is refused (400 validation_failed)
    /// rather than overflowing bigint; releases may still add back what was reserved, which stays far
    /// below bigint's 9.2e18.
    /// </summary>
    public const long MaxAvailable = 9_000_000_000_000_000;

    public static IEndpointRouteBuilder MapStockApi(this IEndpointRouteBuilder app)
    {
        var stock = app.MapGroup("/api/v1/stock").WithTags("Stock");

        stock.MapPost("/items", Receive)
            .WithName("ReceiveStock")
            .RequireApiKey(Scopes.StockWrite)
            .WithSummary("Receive stock: adds quantity to the item's available stock, creating the item if new.")
            .AcceptsJson<ReceiveStockRequest>();

        stock.MapPut("/items/{sku}", SetAvailable)
            .WithName("SetStock")
            .RequireApiKey(Scopes.StockWrite)
            .WithSummary("Set the available stock of an item (stock count correction), creating it if new.")
            .AcceptsJson<SetStockRequest>();

        stock.MapGet("/{sku}", Get)
            .WithName("GetStock")
            .RequireApiKey(Scopes.StockRead)
            .WithSummary("The available stock of one item.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        stock.MapGet("", List)
            .WithName("ListStock")
            .RequireApiKey(Scopes.StockRead)
            .WithSummary("Items by sku ascending, keyset-paged: pass the answer's next as after.")
            .ProducesProblem(StatusCodes.Status400BadRequest);

        var internalOnly = stock.MapGroup("").RequireServiceToken();

        internalOnly.MapPost("/reserve", Reserve)
            .WithName("ReserveStock")
            .WithSummary("Internal: atomically take stock for an order. Idempotent on order_id.")
            .AcceptsJson<ReserveRequest>()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        internalOnly.MapPost("/release", Release)
            .WithName("ReleaseStock")
            .WithSummary("Internal: give an order's reserved stock back, once. Unknown order ids leave a tombstone.")
            .AcceptsJson<ReleaseRequest>()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        return app;
    }

    // ---- receive / set / get / list -------------------------------------------------------------

    private const string ReceiveSql = """
        INSERT INTO items AS i (sku, available) VALUES ($1, $2)
        ON CONFLICT (sku) DO UPDATE
            SET available = i.available + EXCLUDED.available, updated_at = now()
            WHERE i.available <= 9000000000000000 - EXCLUDED.available
        RETURNING available
        """;

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> Receive(
        HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReceiveStockRequest, cancellationToken);
        if (problem is not null) return problem;
        var (sku, quantity) = body;

        await using var command = db.CreateCommand(ReceiveSql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = quantity });
        // No row back only when the item exists and the sum would pass the ceiling (nothing written).
        if (await command.ExecuteScalarAsync(cancellationToken) is not long available)
            return Problems.Validation("quantity",
                $"would raise the available stock of '{sku}' above the maximum of {MaxAvailable}.");
        return TypedResults.Ok(new StockLevel(sku, available));
    }

    private const string SetSql = """
        INSERT INTO items AS i (sku, available) VALUES ($1, $2)
        ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()
        RETURNING available
        """;

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> SetAvailable(
        string sku, HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.SetStockRequest, cancellationToken,
            (_, errors) => { if (!Rules.IsValidSku(sku)) errors.Add("sku", Rules.SkuRule); });
        if (problem is not null) return problem;
        var quantity = body.Quantity;

        await using var command = db.CreateCommand(SetSql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = quantity });
        var available = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        return TypedResults.Ok(new StockLevel(sku, available));
    }

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> Get(
        string sku, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        if (!Rules.IsValidSku(sku)) return Problems.Validation("sku", Rules.SkuRule);

        await using var command = db.CreateCommand("SELECT available FROM items WHERE sku = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
        return await command.ExecuteScalarAsync(cancellationToken) is long available
            ? TypedResults.Ok(new StockLevel(sku, available))
            : Problems.NotFoundProblem($"No stock item '{sku}'.");
    }

    private const string FirstPageSql = "SELECT sku, available FROM items ORDER BY sku LIMIT $1";
    private const string NextPageSql = "SELECT sku, available FROM items WHERE sku > $2 ORDER BY sku LIMIT $1";

    /// <summary>The cursor is the last sku of the page: already URL-safe under the sku rule, and validated by it.</summary>
    public static async Task<Results<Ok<StockPage>, ProblemHttpResult>> List(
        string? limit, string? after, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(0);
        if (!Rules.TryParseLimit(limit, out var pageSize)) errors["limit"] = ["must be an integer between 1 and 500."];
        if (after is not null && !Rules.IsValidSku(after)) errors["after"] = ["must be a cursor from a previous page's next."];
        if (errors.Count > 0) return Problems.Validation(errors);

        await using var command = db.CreateCommand(after is null ? FirstPageSql : NextPageSql);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = pageSize + 1 });
        if (after is not null) command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after });

        var items = new List<StockLevel>(Math.Min(pageSize + 1, 64));
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                items.Add(new StockLevel(reader.GetString(0), reader.GetInt64(1)));
        }

        string? next = null;
        if (items.Count > pageSize)
        {
            items.RemoveAt(pageSize);
            next = items[^1].ItemSku;
        }
        return TypedResults.Ok(new StockPage(items, next));
    }

    // ---- reserve / release (internal) -----------------------------------------------------------

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

    public static async Task<Results<Ok<ReservationResult>, ProblemHttpResult>> Reserve(
        HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReserveRequest, cancellationToken);
        if (problem is not null) return problem;
        var (orderId, sku, quantity) = body;

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand(ReserveSql, connection);
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sku });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = quantity });
            if (await command.ExecuteScalarAsync(cancellationToken) is long remaining)
                return TypedResults.Ok(new ReservationResult(orderId, sku, quantity, Reserved, remaining));
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
            if (reader.GetString(3) == Released)
                return Problems.Create(StatusCodes.Status409Conflict, ReservationReleased, "Reservation released.",
                    $"Order {orderId} was already released; it cannot reserve stock again.");
            var firstSku = reader.GetString(0);
            var firstQuantity = reader.GetInt32(1);
            if (firstSku == sku && firstQuantity == quantity)
                return TypedResults.Ok(new ReservationResult(orderId, sku, quantity, Reserved, reader.GetInt64(2)));
            return Problems.Create(StatusCodes.Status422UnprocessableEntity, IdempotencyKeyReused, "Idempotency key reused.",
                $"Order {orderId} already reserved {firstQuantity} of '{firstSku}'; a reserve with another sku or quantity is refused.");
        }

        return reader.GetBoolean(4)
            ? Problems.Create(StatusCodes.Status409Conflict, InsufficientStock, "Insufficient stock.",
                $"Not enough available stock of '{sku}' to reserve {quantity}.")
            : Problems.Create(StatusCodes.Status404NotFound, UnknownItem, "Unknown item.", $"No stock item '{sku}'.");
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

    public static async Task<Results<Ok<ReleaseResult>, ProblemHttpResult>> Release(
        HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReleaseRequest, cancellationToken);
        if (problem is not null) return problem;
        var orderId = body.OrderId;

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
            if (await reader.ReadAsync(cancellationToken))
                return TypedResults.Ok(new ReleaseResult(orderId, Released, 0));
            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
                return TypedResults.Ok(new ReleaseResult(orderId, Released, reader.GetInt32(0)));
        }

        // Released earlier (by another call): same answer, nothing restored.
        await using var read = new NpgsqlCommand("SELECT quantity FROM reservations WHERE order_id = $1", connection);
        read.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        var quantity = await read.ExecuteScalarAsync(cancellationToken) as int? ?? 0;
        return TypedResults.Ok(new ReleaseResult(orderId, Released, quantity));
    }
}
