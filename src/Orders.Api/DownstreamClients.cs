using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Orders.Api;

public enum ReserveOutcome { Reserved, InsufficientStock, UnknownItem, Refused }

public enum AuthorizeOutcome { Authorized, Declined, Refused }

/// <summary>A dependency did not give a definitive answer (timeout, 5xx, refused connection, open circuit).</summary>
public sealed class DependencyUnavailableException(string dependency, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public string Dependency { get; } = dependency;
}

/// <summary>The inventory service's internal endpoints. Every call is idempotent on order_id.</summary>
public sealed class InventoryClient(HttpClient http)
{
    public const string Name = "inventory";

    public async Task<ReserveOutcome> ReserveAsync(Guid orderId, string sku, int quantity, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/stock/reserve",
            new ReserveRequest(orderId, sku, quantity), OrdersJsonContext.Default.ReserveRequest, ct);
        if (response.StatusCode == HttpStatusCode.OK) return ReserveOutcome.Reserved;
        return (response.StatusCode, await Downstream.ReadCodeAsync(response, ct)) switch
        {
            (HttpStatusCode.Conflict, "insufficient_stock") => ReserveOutcome.InsufficientStock,
            (HttpStatusCode.NotFound, _) => ReserveOutcome.UnknownItem,
            // reservation_released or idempotency_key_reused: this order can never hold stock.
            (HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity, _) => ReserveOutcome.Refused,
            var (status, code) => throw Downstream.Unavailable(Name, status, code),
        };
    }

    /// <summary>Gives the order's stock back, or leaves a tombstone so a late reserve is refused.</summary>
    public async Task ReleaseAsync(Guid orderId, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/stock/release",
            new ReleaseRequest(orderId), OrdersJsonContext.Default.ReleaseRequest, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw Downstream.Unavailable(Name, response.StatusCode, await Downstream.ReadCodeAsync(response, ct));
    }
}

/// <summary>The payment service's internal endpoints. Every call is idempotent on order_id.</summary>
public sealed class PaymentClient(HttpClient http)
{
    public const string Name = "payment";

    public async Task<AuthorizeOutcome> AuthorizeAsync(Guid orderId, decimal amount, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/payments/authorize",
            new AuthorizeRequest(orderId, amount), OrdersJsonContext.Default.AuthorizeRequest, ct);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            var body = await response.Content.ReadFromJsonAsync(OrdersJsonContext.Default.AuthorizeResponse, ct);
            return body?.Status switch
            {
                "AUTHORIZED" => AuthorizeOutcome.Authorized,
                "DECLINED" => AuthorizeOutcome.Declined,
                var other => throw new DependencyUnavailableException(Name, $"Unexpected payment status '{other}'."),
            };
        }
        return (response.StatusCode, await Downstream.ReadCodeAsync(response, ct)) switch
        {
            // payment_voided or idempotency_key_reused: this order can never be charged.
            (HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity, _) => AuthorizeOutcome.Refused,
            var (status, code) => throw Downstream.Unavailable(Name, status, code),
        };
    }

    /// <summary>Cancels the order's authorization, or leaves a tombstone so a late authorize is refused.</summary>
    public async Task VoidAsync(Guid orderId, CancellationToken ct)
    {
        using var response = await Downstream.PostAsync(http, Name, "/api/v1/payments/void",
            new VoidRequest(orderId), OrdersJsonContext.Default.VoidRequest, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw Downstream.Unavailable(Name, response.StatusCode, await Downstream.ReadCodeAsync(response, ct));
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
            throw new DependencyUnavailableException(dependency, $"{dependency} did not answer: {e.Message}", e);
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

    public static DependencyUnavailableException Unavailable(string dependency, HttpStatusCode status, string? code) =>
        new(dependency, $"{dependency} answered {(int)status} {code}");
}
