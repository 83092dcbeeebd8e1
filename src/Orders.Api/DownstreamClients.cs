using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Orders.Api;

/// <summary>
/// A dependency gave no answer the saga can act on: a timeout, a 5xx, a refused connection, an open circuit — or an
/// answer outside its contract (<see cref="Unexpected"/>: a 401 after a token change, a 400, a 404 that is not
/// unknown_item). Either way nothing is decided from it: the order stays PENDING and is retried, and past the
/// give-up deadline it is compensated.
/// </summary>
public sealed class DependencyUnavailableException(string message, bool unexpected = false, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The dependency answered, but not as its contract says it can: an operator has to look (it is logged as an error).</summary>
    public bool Unexpected { get; } = unexpected;
}

/// <summary>The inventory service's internal endpoints. Every call is idempotent on order_id.</summary>
public sealed class InventoryClient(HttpClient http)
{
    public const string Name = "inventory";

    /// <summary>
    /// Holds every line for the order or none (one call: the one-line form for one line, the multi-line form otherwise).
    /// Null when the stock is held; otherwise the reason the order fails.
    /// </summary>
    public async Task<string?> ReserveAsync(Guid orderId, IReadOnlyList<OrderLine> lines, CancellationToken ct)
    {
        using var response = lines.Count == 1
            ? await Downstream.PostAsync(http, Name, "/api/v1/stock/reserve",
                new ReserveRequest(orderId, lines[0].ItemSku, lines[0].Quantity), OrdersJsonContext.Default.ReserveRequest, ct)
            : await Downstream.PostAsync(http, Name, "/api/v1/stock/reserve",
                new ReserveLinesRequest(orderId, lines), OrdersJsonContext.Default.ReserveLinesRequest, ct);
        if (response.StatusCode == HttpStatusCode.OK) return null;
        return (response.StatusCode, await Downstream.ReadCodeAsync(response, ct)) switch
        {
            (HttpStatusCode.Conflict, "insufficient_stock") => FailureReason.InsufficientStock,
            (HttpStatusCode.NotFound, "unknown_item") => FailureReason.UnknownItem,
            // This order can never hold stock: it was released (tombstone) or reserved other lines under its id.
            (HttpStatusCode.Conflict, "reservation_released") or (HttpStatusCode.UnprocessableEntity, "idempotency_key_reused")
                => FailureReason.InventoryUnavailable,
            var (status, code) => throw Downstream.NoAnswer(Name, status, code),
        };
    }

    /// <summary>Gives the order's stock back, or leaves a tombstone so a late reserve is refused.</summary>
    public async Task ReleaseAsync(Guid orderId, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/stock/release",
            new ReleaseRequest(orderId), OrdersJsonContext.Default.ReleaseRequest, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw Downstream.NoAnswer(Name, response.StatusCode, await Downstream.ReadCodeAsync(response, ct));
    }
}

/// <summary>The payment service's internal endpoints. Every call is idempotent on order_id.</summary>
public sealed class PaymentClient(HttpClient http)
{
    public const string Name = "payment";

    /// <summary>Null when the amount is authorized; otherwise the reason the order fails.</summary>
    public async Task<string?> AuthorizeAsync(Guid orderId, decimal amount, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/payments/authorize",
            new AuthorizeRequest(orderId, amount), OrdersJsonContext.Default.AuthorizeRequest, ct);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            var body = await response.Content.ReadFromJsonAsync(OrdersJsonContext.Default.AuthorizeResponse, ct);
            return body?.Status switch
            {
                "AUTHORIZED" => null,
                "DECLINED" => FailureReason.PaymentDeclined,
                var other => throw new DependencyUnavailableException($"{Name} answered 200 with status '{other}'", unexpected: true),
            };
        }
        return (response.StatusCode, await Downstream.ReadCodeAsync(response, ct)) switch
        {
            // This order can never be charged: it was voided (tombstone) or authorized another amount under its id.
            (HttpStatusCode.Conflict, "payment_voided") or (HttpStatusCode.UnprocessableEntity, "idempotency_key_reused")
                => FailureReason.PaymentUnavailable,
            var (status, code) => throw Downstream.NoAnswer(Name, status, code),
        };
    }

    /// <summary>Cancels the order's authorization, or leaves a tombstone so a late authorize is refused.</summary>
    public async Task VoidAsync(Guid orderId, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/payments/void",
            new VoidRequest(orderId), OrdersJsonContext.Default.VoidRequest, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw Downstream.NoAnswer(Name, response.StatusCode, await Downstream.ReadCodeAsync(response, ct));
    }
}

internal static class Downstream
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<HttpResponseMessage> PostAsync<T>(HttpClient http, string dependency, string path, T body,
        JsonTypeInfo<T> typeInfo, CancellationToken ct)
    {
        // A byte array body gets a Content-Length, so the callee never sees a chunked request.
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, typeInfo));
        content.Headers.ContentType = Json;
        try
        {
            return await http.PostAsync(path, content, ct);
        }
        catch (Exception e) when (e is HttpRequestException or Polly.Timeout.TimeoutRejectedException or Polly.CircuitBreaker.BrokenCircuitException
                                      || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            throw new DependencyUnavailableException($"{dependency} did not answer: {e.Message}", inner: e);
        }
    }

    public static async Task<string?> ReadCodeAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return (await response.Content.ReadFromJsonAsync(OrdersJsonContext.Default.ProblemCode, ct))?.Code;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// An answer that decides nothing. 5xx, 408 and 429 are the dependency being unavailable (the resilience pipeline
    /// already retried them); any other status, or a code the contract does not list for it, is unexpected.
    /// </summary>
    public static DependencyUnavailableException NoAnswer(string dependency, HttpStatusCode status, string? code)
    {
        var transient = (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
        return new DependencyUnavailableException($"{dependency} answered {(int)status} {code}", unexpected: !transient);
    }
}
