using System.Text.Json;

namespace Oms.Console.Clients;

// The services' response bodies (DESIGN.md "Wire conventions": snake_case, enums as UPPER_CASE strings).

public sealed record Page<T>(IReadOnlyList<T> Items, string? Next);

public sealed record OrderLine(string ItemSku, int Quantity);

public sealed record Order(
    Guid OrderId, string Status, string? ItemSku, int? Quantity, IReadOnlyList<OrderLine>? Items, decimal Amount,
    string IdempotencyKey, string? FailureReason, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Every line; older bodies without <c>items</c> carry only the one-line form.</summary>
    public IReadOnlyList<OrderLine> Lines =>
        Items is { Count: > 0 } ? Items : ItemSku is not null && Quantity is { } q ? [new OrderLine(ItemSku, q)] : [];
}

public sealed record OrderEvent(Guid EventId, Guid OrderId, long Sequence, string Type, DateTimeOffset OccurredAt, JsonElement? Data);

public sealed record StockLevel(string ItemSku, long Quantity);

public sealed record Payment(Guid? PaymentId, Guid OrderId, decimal? Amount, string Status);

/// <summary><c>GET /api/v1/orders/stats</c> (common.md, issue 13).</summary>
public sealed record OrderStats(
    int WindowMinutes, DateTimeOffset GeneratedAt, IReadOnlyList<MinuteCounts> PerMinute,
    IReadOnlyDictionary<string, long> FailuresByReason, PendingFigures Pending, OutboxFigures? Outbox);

public sealed record MinuteCounts(DateTimeOffset Minute, long Confirmed, long Failed, long Cancelled, long Pending);

public sealed record PendingFigures(long Count, double? OldestAgeSeconds);

public sealed record OutboxFigures(long Backlog, double? OldestAgeSeconds);

/// <summary>An RFC 9457 problem as the services send it, or one the console made up when a service did not answer.</summary>
public sealed record ApiProblem(int Status, string Code, string Detail, IReadOnlyDictionary<string, string[]> Errors)
{
    public static readonly IReadOnlyDictionary<string, string[]> NoErrors = new Dictionary<string, string[]>();
}

/// <summary>Either the value of a 2xx answer or the problem of any other.</summary>
public sealed record ApiResult<T>(T? Value, ApiProblem? Problem, int Status)
{
    public bool Ok => Problem is null;
}
