using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orders.Api;

/// <summary>
/// The order form: one line (<c>item_sku</c>, <c>quantity</c>, the seed's form) or <c>items</c> (1-50 lines, each SKU at
/// most once), never both. The idempotency key may come in the body or the Idempotency-Key header; the handler settles which.
/// </summary>
public sealed record CreateOrderRequest(
    [property: Sku] string? ItemSku,
    [property: Between(1, CreateOrderRequest.MaxQuantity)] int? Quantity,
    [property: Length(1, CreateOrderRequest.MaxLines, ErrorMessage = "must hold 1-50 lines.")] IReadOnlyList<OrderLine>? Items,
    [property: Money(CreateOrderRequest.MaxAmount)] decimal Amount,
    [property: IdempotencyKey] string? IdempotencyKey) : IValidatableObject
{
    public const int MaxQuantity = 1_000_000;
    public const int MaxLines = 50;
    public const long MaxAmount = 1_000_000_000;

    /// <summary>The lines asked for, in request order (call once the body is valid).</summary>
    public IReadOnlyList<OrderLine> Lines => Items ?? [new OrderLine(ItemSku!, Quantity!.Value)];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Items is not null)
        {
            if (ItemSku is not null || Quantity is not null)
                yield return new("cannot be sent with item_sku or quantity: send one line as item_sku and quantity, or lines as items.", ["items"]);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Items.Count; i++)
                if (!seen.Add(Items[i].ItemSku))
                    yield return new("repeats the SKU of an earlier line: each SKU at most once.", [$"items[{i}].item_sku"]);
            yield break;
        }
        if (ItemSku is null) yield return new("is required (or send the lines as items).", ["item_sku"]);
        if (Quantity is null) yield return new("is required (or send the lines as items).", ["quantity"]);
    }
}

/// <summary>The optional body of a cancel.</summary>
public sealed record CancelOrderRequest(
    [property: StringLength(200, ErrorMessage = "must be at most {1} characters.")] string? Reason);

/// <summary>One line of an order: a SKU and how many units of it.</summary>
public sealed record OrderLine(
    [property: Sku] string ItemSku,
    [property: Between(1, CreateOrderRequest.MaxQuantity)] int Quantity);

public sealed record OrderResponse(
    Guid OrderId,
    string Status,
    string? ItemSku,
    int Quantity,
    IReadOnlyList<OrderLine> Items,
    decimal Amount,
    string IdempotencyKey,
    string? FailureReason,
    DateTime CreatedAt,
    DateTime UpdatedAt);

public sealed record OrderPage(IReadOnlyList<OrderResponse> Items, string? Next);

public static class OrderStatus
{
    public const string Pending = "PENDING";
    public const string Confirmed = "CONFIRMED";
    public const string Failed = "FAILED";
    public const string Cancelled = "CANCELLED";

    /// <summary>Every status an order can have (the CHECK on orders.status).</summary>
    public static IReadOnlyList<string> All { get; } = [Pending, Confirmed, Failed, Cancelled];
}

/// <summary>The types of the events of an order's timeline (order_events.type).</summary>
public static class OrderEvents
{
    public const string Created = "order.created";
    public const string StockReserved = "order.stock_reserved";
    public const string PaymentAuthorized = "order.payment_authorized";
    public const string Confirmed = "order.confirmed";
    public const string Failed = "order.failed";
    public const string CancelRequested = "order.cancel_requested";
    public const string Cancelled = "order.cancelled";
}

public sealed record OrderEventResponse(Guid EventId, Guid OrderId, int Sequence, string Type, DateTime OccurredAt, JsonElement Data);

public sealed record OrderEventPage(IReadOnlyList<OrderEventResponse> Items, string? Next);

/// <summary>GET /api/v1/orders/stats: the last <see cref="WindowMinutes"/> minutes of orders, the PENDING ones now, the event backlog.</summary>
public sealed record OrderStatsResponse(
    int WindowMinutes,
    DateTime GeneratedAt,
    IReadOnlyList<OrderStatsMinute> PerMinute,
    IReadOnlyDictionary<string, long> FailuresByReason,
    PendingStats Pending,
    OutboxStats? Outbox);

/// <summary>The orders created in one minute (UTC, its start), by their status now.</summary>
public sealed record OrderStatsMinute(DateTime Minute, long Confirmed, long Failed, long Cancelled, long Pending);

/// <summary>Every PENDING order now; the oldest one's age is null when there is none.</summary>
public sealed record PendingStats(long Count, double? OldestAgeSeconds);

/// <summary>Order events not yet confirmed by the broker, as the relay's gauges last counted them.</summary>
public sealed record OutboxStats(long Backlog, double OldestAgeSeconds);

public static class FailureReason
{
    public const string InsufficientStock = "INSUFFICIENT_STOCK";
    public const string UnknownItem = "UNKNOWN_ITEM";
    public const string PaymentDeclined = "PAYMENT_DECLINED";
    public const string InventoryUnavailable = "INVENTORY_UNAVAILABLE";
    public const string PaymentUnavailable = "PAYMENT_UNAVAILABLE";
}

// Wire shapes of the inventory and payment services' internal endpoints.
public sealed record ReserveRequest(Guid OrderId, string ItemSku, int Quantity);
public sealed record ReserveLinesRequest(Guid OrderId, IReadOnlyList<OrderLine> Items);
public sealed record ReleaseRequest(Guid OrderId);
public sealed record AuthorizeRequest(Guid OrderId, decimal Amount);
public sealed record VoidRequest(Guid OrderId);
public sealed record AuthorizeResponse(Guid PaymentId, Guid OrderId, decimal Amount, string Status);
public sealed record ProblemCode(string? Code);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CreateOrderRequest))]
[JsonSerializable(typeof(OrderResponse))]
[JsonSerializable(typeof(CancelOrderRequest))]
[JsonSerializable(typeof(OrderPage))]
[JsonSerializable(typeof(OrderEventPage))]
[JsonSerializable(typeof(OrderStatsResponse))]
[JsonSerializable(typeof(ReserveRequest))]
[JsonSerializable(typeof(ReserveLinesRequest))]
[JsonSerializable(typeof(OrderLine[]))]
[JsonSerializable(typeof(ReleaseRequest))]
[JsonSerializable(typeof(AuthorizeRequest))]
[JsonSerializable(typeof(VoidRequest))]
[JsonSerializable(typeof(AuthorizeResponse))]
[JsonSerializable(typeof(ProblemCode))]
public sealed partial class OrdersJsonContext : JsonSerializerContext;
