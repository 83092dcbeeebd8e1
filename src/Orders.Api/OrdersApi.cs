using System.Buffers.Binary;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Oms.ServiceDefaults;

namespace Orders.Api;

public static class OrdersApi
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public static IEndpointRouteBuilder MapOrdersApi(this IEndpointRouteBuilder app)
    {
        var orders = app.MapGroup("/api/v1/orders").WithTags("Orders");
        orders.MapPost("/", CreateOrder).WithName("CreateOrder").RequireApiKey(Scopes.OrdersWrite)
            .AcceptsJson<CreateOrderRequest>()
            .WithSummary("Place an order of one line (item_sku, quantity) or of 1-50 (items), idempotent on idempotency_key")
            .WithDescription("201 when this request created the order and it reached a final state; 200 with Idempotent-Replayed: true " +
                             "for a replay of a final order; 202 while the order is PENDING; 409 request_in_progress while the first request runs; " +
                             "422 idempotency_key_reused for the same key with another payload.")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        orders.MapPost("/{orderId}/cancel", CancelOrder).WithName("CancelOrder").RequireApiKey(Scopes.OrdersWrite)
            // The body is optional (none, {} or {"reason"}): the OpenAPI document says so.
            .Accepts<CancelOrderRequest>(isOptional: true, "application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Cancel an order (idempotent); the body is optional")
            .WithDescription("200 with the CANCELLED order (cancelled now or before); 202 with the order as it stands while what it holds " +
                             "is given back (a PENDING order ends CANCELLED instead of CONFIRMED); 409 order_not_cancellable for a FAILED order.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        orders.MapGet("/stats", GetStats).WithName("GetOrderStats").RequireApiKey(Scopes.OrdersRead)
            .WithSummary("Orders per minute by status over the last hour, failures by reason, PENDING orders, the event backlog")
            .WithDescription("per_minute: the orders created in each of the last 60 minutes (UTC, oldest first, every minute present) by " +
                             "their status now; failures_by_reason: the FAILED among them by failure_reason; pending: every PENDING order now " +
                             "(oldest_age_seconds null when none); outbox: the events waiting for the broker as last counted, null when " +
                             "publishing is off. The answer is computed at most once per Stats:CacheFor (default 2 s) and shared.");
        orders.MapGet("/{orderId}", GetOrder).WithName("GetOrder").RequireApiKey(Scopes.OrdersRead).ProducesProblem(StatusCodes.Status404NotFound);
        orders.MapGet("/{orderId}/events", ListOrderEvents).WithName("ListOrderEvents").RequireApiKey(Scopes.OrdersRead)
            .WithSummary("The order's timeline, oldest first, paged")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        orders.MapGet("/", ListOrders).WithName("ListOrders").RequireApiKey(Scopes.OrdersRead).ProducesProblem(StatusCodes.Status400BadRequest);
        return app;
    }

    private static async Task<Results<Created<OrderResponse>, Ok<OrderResponse>, Accepted<OrderResponse>, ProblemHttpResult>> CreateOrder(
        HttpContext http, OrderPlacement placement)
    {
        var header = http.Request.Headers[IdempotencyKeyHeader];
        var key = "";
        var (request, problem) = await RequestBody.ReadAsync(http.Request, OrdersJsonContext.Default.CreateOrderRequest, http.RequestAborted,
            (body, errors) => key = IdempotencyKey(body.IdempotencyKey, header, errors) ?? "");
        if (problem is not null) return problem;

        var form = new OrderForm(request.Lines, request.Amount, key);
        var (outcome, order) = await placement.PlaceAsync(form, http.ApiKeyName());
        var location = $"/api/v1/orders/{order.OrderId}";
        switch (outcome)
        {
            case PlacementOutcome.Created:
                return TypedResults.Created(location, order.ToResponse());
            case PlacementOutcome.Pending:
                return TypedResults.Accepted(location, order.ToResponse());
            case PlacementOutcome.Replayed:
                http.Response.Headers["Idempotent-Replayed"] = "true";
                return TypedResults.Ok(order.ToResponse());
            case PlacementOutcome.InProgress:
                return Problems.Create(StatusCodes.Status409Conflict, "request_in_progress", "Request in progress.",
                    "The first request with this idempotency key is still running; retry shortly.");
            case PlacementOutcome.KeyReused:
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", "Idempotency key reused.",
                    $"The idempotency key '{key}' was already used for an order with a different payload.");
            default:
                throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Not a placement outcome.");
        }
    }

    private static async Task<Results<Ok<OrderResponse>, Accepted<OrderResponse>, ProblemHttpResult>> CancelOrder(
        string orderId, HttpContext http, OrderCancellation cancellation)
    {
        if (!Guid.TryParse(orderId, out var id)) return Problems.Validation("order_id", "must be a UUID.");
        string? reason = null;
        // The body is optional: none at all, {} or {"reason": "..."}.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true)
        {
            var (body, problem) = await RequestBody.ReadAsync(http.Request, OrdersJsonContext.Default.CancelOrderRequest, http.RequestAborted);
            if (problem is not null) return problem;
            reason = body.Reason;
        }

        var (outcome, order) = await cancellation.CancelAsync(id, reason);
        return outcome switch
        {
            CancellationOutcome.Cancelled => TypedResults.Ok(order!.ToResponse()),
            CancellationOutcome.Accepted => TypedResults.Accepted($"/api/v1/orders/{id}", order!.ToResponse()),
            CancellationOutcome.NotCancellable => Problems.Create(StatusCodes.Status409Conflict, "order_not_cancellable", "Order not cancellable.",
                $"The order '{id}' FAILED: it holds nothing and cannot be cancelled."),
            CancellationOutcome.NotFound => Problems.NotFoundProblem($"No order with id '{id}'."),
            _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Not a cancellation outcome."),
        };
    }

    /// <summary>The order's key from the body (already checked against the key rule) or the header; null with the reason in <paramref name="fields"/>.</summary>
    private static string? IdempotencyKey(string? fromBody, Microsoft.Extensions.Primitives.StringValues header, FieldErrors fields)
    {
        if (header.Count > 1)
        {
            // Joined they would make a new key ("a,b") that neither header meant.
            fields.Add("Idempotency-Key", "must be sent once; this request has several Idempotency-Key headers.");
            return null;
        }
        string? fromHeader = header.Count == 1 ? header[0] : null;
        if (fromHeader is not null && !Rules.IsValidIdempotencyKey(fromHeader))
        {
            fields.Add("Idempotency-Key", Rules.KeyRule);
            return null;
        }
        if (fromBody is not null && fromHeader is not null && fromBody != fromHeader)
        {
            fields.Add("idempotency_key", "differs from the Idempotency-Key header.");
            return null;
        }
        var key = fromBody ?? fromHeader;
        if (key is null && !fields.Has("idempotency_key")) fields.Add("idempotency_key", "is required (in the body or the Idempotency-Key header).");
        return key;
    }

    private static async Task<Ok<OrderStatsResponse>> GetStats(OrderStats stats, CancellationToken ct) =>
        TypedResults.Ok(await stats.GetAsync(ct));

    private static async Task<Results<Ok<OrderResponse>, ProblemHttpResult>> GetOrder(string orderId, OrderStore store, CancellationToken ct)
    {
        if (!Guid.TryParse(orderId, out var id)) return Problems.Validation("order_id", "must be a UUID.");
        var order = await store.GetAsync(id, ct);
        return order is null
            ? Problems.NotFoundProblem($"No order with id '{id}'.")
            : TypedResults.Ok(order.ToResponse());
    }

    private static async Task<Results<Ok<OrderEventPage>, ProblemHttpResult>> ListOrderEvents(
        string orderId, [FromQuery] string? limit, [FromQuery] string? after, OrderStore store, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (!Guid.TryParse(orderId, out var id)) errors["order_id"] = ["must be a UUID."];
        if (!Rules.TryParseLimit(limit, out var pageSize)) errors["limit"] = ["must be an integer between 1 and 500."];
        // The cursor is the last sequence of the previous page.
        var afterSequence = 0;
        if (after is not null && !(int.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out afterSequence) && afterSequence >= 1))
            errors["after"] = ["is not a cursor returned by this endpoint."];
        if (errors.Count > 0) return Problems.Validation(errors);

        var events = await store.EventsAsync(id, afterSequence, pageSize + 1, ct);
        // Every order has its order.created event, so only an empty first page needs to ask whether the order exists.
        if (events.Count == 0 && (after is null || !await store.ExistsAsync(id, ct)))
            return Problems.NotFoundProblem($"No order with id '{id}'.");
        var next = events.Count > pageSize ? events[pageSize - 1].Sequence.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new OrderEventPage(events.Take(pageSize).ToList(), next));
    }

    private static async Task<Results<Ok<OrderPage>, ProblemHttpResult>> ListOrders(
        [FromQuery] string? status, [FromQuery(Name = "item_sku")] string? itemSku, [FromQuery] string? limit,
        [FromQuery] string? after, OrderStore store, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (status is not null && !OrderStatus.All.Contains(status))
            errors["status"] = [$"must be one of {string.Join(", ", OrderStatus.All)}."];
        if (itemSku is not null && !Rules.IsValidSku(itemSku)) errors["item_sku"] = [Rules.SkuRule];
        if (!Rules.TryParseLimit(limit, out var pageSize)) errors["limit"] = ["must be an integer between 1 and 500."];
        (DateTime, Guid)? cursor = null;
        if (after is not null)
        {
            if (TryDecodeCursor(after, out var decoded)) cursor = decoded;
            else errors["after"] = ["is not a cursor returned by this endpoint."];
        }
        if (errors.Count > 0) return Problems.Validation(errors);

        var rows = await store.ListAsync(status, itemSku, cursor, pageSize + 1, ct);
        var next = rows.Count > pageSize ? EncodeCursor(rows[pageSize - 1]) : null;
        var items = rows.Take(pageSize).Select(r => r.ToResponse()).ToList();
        return TypedResults.Ok(new OrderPage(items, next));
    }

    // Cursor: base64url of (created_at ticks, order_id). Opaque to clients.
    private static string EncodeCursor(OrderRow row)
    {
        Span<byte> bytes = stackalloc byte[24];
        BinaryPrimitives.WriteInt64BigEndian(bytes, row.CreatedAt.Ticks);
        row.OrderId.TryWriteBytes(bytes[8..]);
        return WebEncoders.Base64UrlEncode(bytes);
    }

    private static bool TryDecodeCursor(string cursor, out (DateTime CreatedAt, Guid OrderId) value)
    {
        value = default;
        try
        {
            var bytes = WebEncoders.Base64UrlDecode(cursor);
            if (bytes.Length != 24) return false;
            var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes);
            if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks) return false;
            value = (new DateTime(ticks, DateTimeKind.Utc), new Guid(bytes.AsSpan(8)));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
