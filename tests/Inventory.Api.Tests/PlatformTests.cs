using System.Net;
using static Inventory.Api.Tests.Api;

namespace Inventory.Api.Tests;

/// <summary>Health, metrics and the API description, as every service serves them.</summary>
public sealed class PlatformTests(InventoryService service) : IClassFixture<InventoryService>
{
    private readonly HttpClient _client = service.Client;

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_endpoints_are_200(string path)
    {
        using var response = await _client.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Metrics_are_prometheus_text()
    {
        await _client.AssertMissing(NewSku());
        using var response = await _client.GetAsync("/metrics", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("# TYPE", text);
        Assert.Contains("http_server_request_duration", text);
    }

    [Fact]
    public async Task Openapi_describes_the_stock_endpoints()
    {
        var doc = await _client.GetAsync("/openapi/v1.json", Ct).Ok();
        var paths = doc.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/stock/items", "/api/v1/stock/items/{sku}", "/api/v1/stock/{sku}", "/api/v1/stock",
                     "/api/v1/stock/reserve", "/api/v1/stock/release" })
            Assert.True(paths.TryGetProperty(path, out _), $"missing {path}");
        var schemas = doc.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("ReservationResult").GetProperty("properties").TryGetProperty("remaining", out _));
        Assert.True(schemas.GetProperty("ReserveRequest").GetProperty("properties").TryGetProperty("item_sku", out _));
        // The multi-line form is described by the same records.
        Assert.True(schemas.GetProperty("ReserveRequest").GetProperty("properties").TryGetProperty("items", out _));
        Assert.True(schemas.GetProperty("ReservationResult").GetProperty("properties").TryGetProperty("items", out _));
        Assert.Equal("integer", schemas.GetProperty("StockLevel").GetProperty("properties").GetProperty("quantity").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Docs_serve_swagger_ui()
    {
        using var response = await _client.GetAsync("/docs", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger", await response.Content.ReadAsStringAsync(Ct), StringComparison.OrdinalIgnoreCase);
    }
}
