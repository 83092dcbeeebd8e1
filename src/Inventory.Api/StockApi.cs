using Microsoft.AspNetCore.Http.HttpResults;
using Oms.ServiceDefaults;

namespace Inventory.Api;

/// <summary>Stock levels and reservations over HTTP: bind, validate, call <see cref="StockStore"/>, map its answer.</summary>
public static class StockApi
{
    public const string UnknownItem = "unknown_item";
    public const string InsufficientStock = "insufficient_stock";
    public const string IdempotencyKeyReused = "idempotency_key_reused";
    public const string ReservationReleased = "reservation_released";

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
            .WithSummary("Internal: atomically take stock for an order, one line or every line of items (all or none). Idempotent on order_id.")
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

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> Receive(
        HttpRequest request, StockStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReceiveStockRequest, cancellationToken);
        if (problem is not null) return problem;
        var (sku, quantity) = body;

        return await store.ReceiveAsync(sku, quantity, cancellationToken) is { } available
            ? TypedResults.Ok(new StockLevel(sku, available))
            : Problems.Validation("quantity", $"would raise the available stock of '{sku}' above the maximum of {MaxAvailable}.");
    }

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> SetAvailable(
        string sku, HttpRequest request, StockStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.SetStockRequest, cancellationToken,
            (_, errors) => { if (!Rules.IsValidSku(sku)) errors.Add("sku", Rules.SkuRule); });
        if (problem is not null) return problem;
        var quantity = body.Quantity;

        return TypedResults.Ok(new StockLevel(sku, await store.SetAsync(sku, quantity, cancellationToken)));
    }

    public static async Task<Results<Ok<StockLevel>, ProblemHttpResult>> Get(
        string sku, StockStore store, CancellationToken cancellationToken)
    {
        if (!Rules.IsValidSku(sku)) return Problems.Validation("sku", Rules.SkuRule);

        return await store.GetAsync(sku, cancellationToken) is { } available
            ? TypedResults.Ok(new StockLevel(sku, available))
            : Problems.NotFoundProblem($"No stock item '{sku}'.");
    }

    /// <summary>The cursor is the last sku of the page: already URL-safe under the sku rule, and validated by it.</summary>
    public static async Task<Results<Ok<StockPage>, ProblemHttpResult>> List(
        string? limit, string? after, StockStore store, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(0);
        if (!Rules.TryParseLimit(limit, out var pageSize)) errors["limit"] = ["must be an integer between 1 and 500."];
        if (after is not null && !Rules.IsValidSku(after)) errors["after"] = ["must be a cursor from a previous page's next."];
        if (errors.Count > 0) return Problems.Validation(errors);

        var items = await store.ListAsync(after, pageSize + 1, cancellationToken);
        string? next = null;
        if (items.Count > pageSize)
        {
            items.RemoveAt(pageSize);
            next = items[^1].ItemSku;
        }
        return TypedResults.Ok(new StockPage(items, next));
    }

    // ---- reserve / release (internal) -----------------------------------------------------------

    public static async Task<Results<Ok<ReservationResult>, ProblemHttpResult>> Reserve(
        HttpRequest request, StockStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReserveRequest, cancellationToken);
        if (problem is not null) return problem;
        var orderId = body.OrderId;

        if (body.Items is null)
        {
            var (sku, quantity) = (body.ItemSku!, body.Quantity!.Value);
            var reserve = await store.ReserveAsync(orderId, sku, quantity);
            return reserve.Outcome switch
            {
                ReserveOutcome.Reserved => TypedResults.Ok(ReservationResult.OneLine(orderId, sku, quantity, reserve.Remaining)),
                ReserveOutcome.Released => ReleasedProblem(orderId),
                ReserveOutcome.OtherLines => OtherLinesProblem(orderId, reserve),
                ReserveOutcome.InsufficientStock => Problems.Create(StatusCodes.Status409Conflict, InsufficientStock, "Insufficient stock.",
                    $"Not enough available stock of '{sku}' to reserve {quantity}."),
                ReserveOutcome.UnknownItem => Problems.Create(StatusCodes.Status404NotFound, UnknownItem, "Unknown item.", $"No stock item '{sku}'."),
                _ => throw new InvalidOperationException($"Unhandled reserve outcome {reserve.Outcome}."),
            };
        }

        // One line in the items form is the same reservation as the one-line form (stored alike, so either replays the other).
        if (body.Items is [var only])
        {
            var reserve = await store.ReserveAsync(orderId, only.ItemSku, only.Quantity);
            return reserve.Outcome switch
            {
                ReserveOutcome.Reserved => TypedResults.Ok(ReservationResult.Lines(orderId,
                    [new ReservedLine(only.ItemSku, only.Quantity, reserve.Remaining)])),
                ReserveOutcome.Released => ReleasedProblem(orderId),
                ReserveOutcome.OtherLines => OtherLinesProblem(orderId, reserve),
                ReserveOutcome.InsufficientStock => NothingHeld(ReserveOutcome.InsufficientStock,
                    new Dictionary<string, string[]> { [only.ItemSku] = [$"not enough available stock to reserve {only.Quantity}."] }),
                ReserveOutcome.UnknownItem => NothingHeld(ReserveOutcome.UnknownItem,
                    new Dictionary<string, string[]> { [only.ItemSku] = ["no such item."] }),
                _ => throw new InvalidOperationException($"Unhandled reserve outcome {reserve.Outcome}."),
            };
        }

        var lines = await store.ReserveLinesAsync(orderId, body.Items);
        return lines.Outcome switch
        {
            ReserveOutcome.Reserved => TypedResults.Ok(ReservationResult.Lines(orderId, lines.Lines)),
            ReserveOutcome.Released => ReleasedProblem(orderId),
            ReserveOutcome.OtherLines => Problems.Create(StatusCodes.Status422UnprocessableEntity, IdempotencyKeyReused, "Idempotency key reused.",
                $"Order {orderId} already reserved other lines ({Describe(lines.Lines)}); a reserve with other lines is refused."),
            ReserveOutcome.InsufficientStock or ReserveOutcome.UnknownItem => NothingHeld(lines.Outcome, lines.Reasons!),
            _ => throw new InvalidOperationException($"Unhandled reserve outcome {lines.Outcome}."),
        };
    }

    private static ProblemHttpResult ReleasedProblem(Guid orderId) =>
        Problems.Create(StatusCodes.Status409Conflict, ReservationReleased, "Reservation released.",
            $"Order {orderId} was already released; it cannot reserve stock again.");

    private static ProblemHttpResult OtherLinesProblem(Guid orderId, OneLineReserve held) =>
        Problems.Create(StatusCodes.Status422UnprocessableEntity, IdempotencyKeyReused, "Idempotency key reused.", held.HeldSku is null
            ? $"Order {orderId} already reserved several lines; a reserve with other lines is refused."
            : $"Order {orderId} already reserved {held.HeldQuantity} of '{held.HeldSku}'; a reserve with another sku or quantity is refused.");

    private static string Describe(IEnumerable<ReservedLine> lines) => string.Join(", ", lines.Select(l => $"{l.Quantity} of '{l.ItemSku}'"));

    /// <summary>A multi-line reserve that held nothing: 404 when an item is unknown, else 409; <c>errors</c> names every SKU at fault.</summary>
    private static ProblemHttpResult NothingHeld(ReserveOutcome outcome, IReadOnlyDictionary<string, string[]> reasons)
    {
        var unknown = outcome == ReserveOutcome.UnknownItem;
        var (status, code, title) = unknown
            ? (StatusCodes.Status404NotFound, UnknownItem, "Unknown item.")
            : (StatusCodes.Status409Conflict, InsufficientStock, "Insufficient stock.");
        return TypedResults.Problem(new HttpValidationProblemDetails(reasons.ToDictionary())
        {
            Type = Problems.TypeUri(code),
            Title = title,
            Status = status,
            Detail = (unknown ? "Unknown item or not enough stock for: " : "Not enough available stock of: ")
                     + string.Join(", ", reasons.Keys.Select(k => $"'{k}'")) + ". Nothing was reserved.",
            Extensions = { ["code"] = code },
        });
    }

    public static async Task<Results<Ok<ReleaseResult>, ProblemHttpResult>> Release(
        HttpRequest request, StockStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, InventoryJsonContext.Default.ReleaseRequest, cancellationToken);
        if (problem is not null) return problem;
        var orderId = body.OrderId;

        return TypedResults.Ok(new ReleaseResult(orderId, ReservationStatus.Released, await store.ReleaseAsync(orderId, cancellationToken)));
    }
}
