using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Inventory.Api;

// Wire shapes (snake_case on the wire). A request record is its body's one description: RequestBody binds and checks it,
// OpenAPI shows it.

/// <summary>A reservation's status: the same string on the wire and in the database (its CHECK constraint lists them).</summary>
public static class ReservationStatus
{
    public const string Reserved = "RESERVED";
    public const string Released = "RELEASED";
}

public sealed record ReceiveStockRequest([property: Sku] string ItemSku, [property: Between(1, StockApi.MaxReceive)] long Quantity);

public sealed record SetStockRequest([property: Between(0, StockApi.MaxSet)] long Quantity);

/// <summary>
/// A reserve: the one-line form (<c>item_sku</c>, <c>quantity</c>) or the multi-line form (<c>items</c>, 1-50 lines, each
/// SKU once), never both. A one-line <c>items</c> is the same reservation as the one-line form.
/// </summary>
public sealed record ReserveRequest(
    Guid OrderId,
    [property: Sku] string? ItemSku,
    [property: Between(1, StockApi.MaxReserve)] int? Quantity,
    IReadOnlyList<ReserveLine>? Items) : IValidatableObject
{
    public const int MaxLines = 50;

    /// <summary>The rules across fields, run once every field keeps its own (member names are JSON paths).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Items is null)
        {
            if (ItemSku is null) yield return new ValidationResult("is required.", ["item_sku"]);
            if (Quantity is null) yield return new ValidationResult("is required.", ["quantity"]);
            yield break;
        }
        if (ItemSku is not null || Quantity is not null)
        {
            yield return new ValidationResult("cannot be combined with item_sku and quantity: send one form or the other.", ["items"]);
            yield break;
        }
        if (Items.Count is 0 or > MaxLines)
        {
            yield return new ValidationResult($"must hold 1-{MaxLines} lines.", ["items"]);
            yield break;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Items.Count; i++)
            if (!seen.Add(Items[i].ItemSku))
                yield return new ValidationResult("names a SKU an earlier line already has; each SKU at most once.", [$"items[{i}].item_sku"]);
    }
}

public sealed record ReserveLine([property: Sku] string ItemSku, [property: Between(1, StockApi.MaxReserve)] int Quantity);

public sealed record ReleaseRequest(Guid OrderId);

public sealed record StockLevel(string ItemSku, long Quantity);

public sealed record StockPage(IReadOnlyList<StockLevel> Items, string? Next);

/// <summary>
/// A reservation as first made; a replay answers exactly this again. The one-line form answers
/// <c>{order_id, item_sku, quantity, status, remaining}</c>; the items form <c>{order_id, status, items}</c> (lines in the
/// first request's order). One record for both, so that OpenAPI describes the endpoint's one 200.
/// </summary>
public sealed record ReservationResult(
    Guid OrderId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ItemSku,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Quantity,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Remaining,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ReservedLine>? Items = null)
{
    public static ReservationResult OneLine(Guid orderId, string sku, int quantity, long remaining) =>
        new(orderId, sku, quantity, ReservationStatus.Reserved, remaining);

    public static ReservationResult Lines(Guid orderId, IReadOnlyList<ReservedLine> items) =>
        new(orderId, null, null, ReservationStatus.Reserved, null, items);
}

public sealed record ReservedLine(string ItemSku, int Quantity, long Remaining);

public sealed record ReleaseResult(Guid OrderId, string Status, int Quantity);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ReceiveStockRequest))]
[JsonSerializable(typeof(SetStockRequest))]
[JsonSerializable(typeof(ReserveRequest))]
[JsonSerializable(typeof(ReleaseRequest))]
[JsonSerializable(typeof(StockLevel))]
[JsonSerializable(typeof(StockPage))]
[JsonSerializable(typeof(ReservationResult))]
[JsonSerializable(typeof(ReleaseResult))]
public sealed partial class InventoryJsonContext : JsonSerializerContext;
