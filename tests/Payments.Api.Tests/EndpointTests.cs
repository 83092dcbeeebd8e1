using System.Net;
using Xunit;

namespace Payments.Api.Tests;

public sealed class EndpointTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    [Fact]
    public async Task Health_endpoints_answer_healthy()
    {
        foreach (var path in new[] { "/health/live", "/health/ready" })
        {
            var response = await service.Public.GetAsync(path, Http.Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Http.Ct));
        }
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_and_count_authorizations()
    {
        await (await service.Internal.AuthorizeAsync(Guid.NewGuid(), "1")).ExpectAsync(HttpStatusCode.OK);

        var response = await service.Public.GetAsync("/metrics", Http.Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(Http.Ct);
        Assert.Contains("# TYPE ", text);
        Assert.Contains("http_server_request_duration_seconds", text);
        Assert.Contains("oms_payments_authorizations", text);
    }

    [Fact]
    public async Task OpenApi_document_describes_the_payment_api()
    {
        var document = await (await service.Public.GetAsync("/openapi/v1.json", Http.Ct)).ExpectAsync(HttpStatusCode.OK);
        var paths = document.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/v1/payments/authorize", out var authorize));
        Assert.True(authorize.TryGetProperty("post", out _));
        Assert.True(paths.TryGetProperty("/api/v1/payments/void", out _));
        Assert.True(paths.TryGetProperty("/api/v1/payments/{order_id}", out var get));
        Assert.True(get.TryGetProperty("get", out _));

        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.TryGetProperty("AuthorizeRequest", out var request));
        Assert.True(request.GetProperty("properties").TryGetProperty("order_id", out _));
        Assert.True(schemas.TryGetProperty("PaymentResponse", out var payment));
        Assert.True(payment.GetProperty("properties").TryGetProperty("payment_id", out _));
    }

    [Fact]
    public async Task Swagger_ui_is_served_at_docs()
    {
        var response = await service.Public.GetAsync("/docs/index.html", Http.Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger", await response.Content.ReadAsStringAsync(Http.Ct), StringComparison.OrdinalIgnoreCase);
        var root = await service.Public.GetAsync("/docs", Http.Ct);
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
    }

    [Fact]
    public async Task Unknown_routes_are_problem_json_404()
    {
        await (await service.Public.GetAsync("/api/v1/nothing-here", Http.Ct)).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
    }
}
