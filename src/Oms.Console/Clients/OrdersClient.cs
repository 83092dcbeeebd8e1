namespace Oms.Console.Clients;

/// <summary>The order service's public API (8001).</summary>
public sealed class OrdersClient(HttpClient http, ILogger<OrdersClient> logger) : ServiceClient(http, logger)
{
    protected override string ServiceName => "order";

    public Task<ApiResult<Page<Order>>> ListAsync(string? status, string? itemSku, string? after, int limit, CancellationToken ct) =>
        GetAsync<Page<Order>>("api/v1/orders" + Query.Of(("status", status), ("item_sku", itemSku), ("limit", limit.ToString()), ("after", after)), ct);

    public Task<ApiResult<Order>> GetAsync(Guid orderId, CancellationToken ct) =>
        GetAsync<Order>($"api/v1/orders/{orderId}", ct);

    public Task<ApiResult<Page<OrderEvent>>> EventsAsync(Guid orderId, string? after, int limit, CancellationToken ct) =>
        GetAsync<Page<OrderEvent>>($"api/v1/orders/{orderId}/events" + Query.Of(("limit", limit.ToString()), ("after", after)), ct);

    public Task<ApiResult<Order>> CancelAsync(Guid orderId, CancellationToken ct) =>
        SendJsonAsync<Order>(HttpMethod.Post, $"api/v1/orders/{orderId}/cancel", new { reason = "Cancelled from the console" }, ct);

    public Task<ApiResult<OrderStats>> StatsAsync(CancellationToken ct) =>
        GetAsync<OrderStats>("api/v1/orders/stats", ct);
}

/// <summary>The inventory service's public API (8002).</summary>
public sealed class InventoryClient(HttpClient http, ILogger<InventoryClient> logger) : ServiceClient(http, logger)
{
    protected override string ServiceName => "inventory";

    public Task<ApiResult<Page<StockLevel>>> ListAsync(string? after, int limit, CancellationToken ct) =>
        GetAsync<Page<StockLevel>>("api/v1/stock" + Query.Of(("limit", limit.ToString()), ("after", after)), ct);

    public Task<ApiResult<StockLevel>> ReceiveAsync(string sku, object? quantity, CancellationToken ct) =>
        SendJsonAsync<StockLevel>(HttpMethod.Post, "api/v1/stock/items", new { item_sku = sku, quantity }, ct);

    public Task<ApiResult<StockLevel>> CorrectAsync(string sku, object? quantity, CancellationToken ct) =>
        SendJsonAsync<StockLevel>(HttpMethod.Put, $"api/v1/stock/items/{Uri.EscapeDataString(sku)}", new { quantity }, ct);
}

/// <summary>The payment service's public API (8003).</summary>
public sealed class PaymentsClient(HttpClient http, ILogger<PaymentsClient> logger) : ServiceClient(http, logger)
{
    protected override string ServiceName => "payment";

    public Task<ApiResult<Payment>> GetAsync(Guid orderId, CancellationToken ct) =>
        GetAsync<Payment>($"api/v1/payments/{orderId}", ct);
}

internal static class Query
{
    public static string Of(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => !string.IsNullOrEmpty(p.Value))
            .Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}
