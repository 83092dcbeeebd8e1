using System.Text.Json.Serialization;
using Oms.ServiceDefaults;

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

public sealed record ReserveRequest(Guid OrderId, [property: Sku] string ItemSku, [property: Between(1, StockApi.MaxReserve)] int Quantity);

public sealed record ReleaseRequest(Guid OrderId);

public sealed record StockLevel(string ItemSku, long Quantity);

public sealed record StockPage(IReadOnlyList<StockLevel> Items, string? Next);

/// <summary>A reservation as first made; a replay answers exactly this again.</summary>
public sealed record ReservationResult(Guid OrderId, string ItemSku, int Quantity, string Status, long Remaining);

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
