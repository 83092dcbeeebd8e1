using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Oms.Testing;
using Payments.Api;
using Xunit;

namespace Payments.Api.Tests;

public sealed class ValidationTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    private const string Authorize = "/api/v1/payments/authorize";
    private const string Void = "/api/v1/payments/void";
    private readonly HttpClient _internal = service.Internal;

    [Theory]
    [InlineData("""{"amount":10}""", "order_id")]
    [InlineData("""{"order_id":"{id}"}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":null}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":"100"}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":-1}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":-0.01}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":1.234}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":1000000000.01}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":1e30}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":true}""", "amount")]
    [InlineData("""{"order_id":"{id}","amount":{}}""", "amount")]
    [InlineData("""{"order_id":"not-a-uuid","amount":10}""", "order_id")]
    [InlineData("""{"order_id":12345,"amount":10}""", "order_id")]
    [InlineData("""{"order_id":"","amount":10}""", "order_id")]
    public async Task Invalid_authorize_is_400_validation_failed_and_writes_nothing(string template, string field)
    {
        var orderId = Guid.NewGuid();
        var response = await _internal.PostJsonAsync(Authorize, template.Replace("{id}", orderId.ToString()));

        var problem = await response.ExpectProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), problem.ToString());
        Assert.True(messages.GetArrayLength() > 0);
        await (await service.Public.GetPaymentAsync(orderId)).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Every_broken_field_is_reported()
    {
        var problem = await (await _internal.PostJsonAsync(Authorize, "{}")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("order_id", out _));
        Assert.True(errors.TryGetProperty("amount", out _));
    }

    [Fact]
    public async Task Unknown_fields_are_ignored()
    {
        var orderId = Guid.NewGuid();
        var payment = await (await _internal.PostJsonAsync(Authorize, $$"""{"order_id":"{{orderId}}","amount":5,"currency":"EUR","x":[1]}"""))
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("AUTHORIZED", payment.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"order_id":null}""")]
    [InlineData("""{"order_id":"nope"}""")]
    [InlineData("""{"order_id":42}""")]
    public async Task Invalid_void_is_400_validation_failed(string body)
    {
        var problem = await (await _internal.PostJsonAsync(Void, body)).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("order_id", out _));
    }

    [Theory]
    [InlineData(Authorize)]
    [InlineData(Void)]
    public async Task A_body_that_is_not_json_is_415(string path)
    {
        var orderId = Guid.NewGuid();
        var json = $$"""{"order_id":"{{orderId}}","amount":10}""";

        await (await _internal.PostAsync(path, new StringContent(json, Encoding.UTF8, "text/plain"), Http.Ct))
            .ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        var noType = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        await (await _internal.PostAsync(path, noType, Http.Ct))
            .ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await (await service.Public.GetPaymentAsync(orderId)).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Theory]
    [InlineData(Authorize, false)]
    [InlineData(Authorize, true)]
    [InlineData(Void, false)]
    public async Task A_body_over_64_KiB_is_413(string path, bool chunked)
    {
        var orderId = Guid.NewGuid();
        var json = $$"""{"order_id":"{{orderId}}","amount":10,"padding":"{{new string('x', 70_000)}}"}""";
        HttpContent content = chunked
            ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json)))
            : Http.Json(json);
        if (chunked) content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (chunked) request.Headers.TransferEncodingChunked = true;
        await (await _internal.SendAsync(request, Http.Ct)).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await (await service.Public.GetPaymentAsync(orderId)).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Theory]
    [InlineData("""{"order_id":""")]
    [InlineData("""{"order_id":"a" "amount":1}""")]
    [InlineData("""not json""")]
    [InlineData("")]
    [InlineData("""[{"order_id":"0198a8c6-2a57-7a4b-9c1e-7d1f4f0a1b2c","amount":1}]""")]
    [InlineData("""[]""")]
    [InlineData("""null""")]
    [InlineData("""42""")]
    [InlineData("\"text\"")]
    public async Task Malformed_or_non_object_json_is_400_malformed_json(string body)
    {
        await (await _internal.PostJsonAsync(Authorize, body)).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed_json");
        await (await _internal.PostJsonAsync(Void, body)).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed_json");
    }

    [Fact]
    public async Task Internal_endpoints_need_the_service_token_and_write_nothing_without_it()
    {
        var orderId = Guid.NewGuid();
        using var wrong = service.CreateClient();
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");
        using var basic = service.CreateClient();
        basic.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", ServiceHost<AuthorizeRequest>.Token);
        using var prefixed = service.CreateClient();
        prefixed.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ServiceHost<AuthorizeRequest>.Token + "x");

        foreach (var client in new[] { service.Public, wrong, basic, prefixed })
        {
            await (await client.AuthorizeAsync(orderId, "10")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
            await (await client.VoidAsync(orderId)).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
            // The token is checked before the body is even looked at.
            await (await client.PostJsonAsync(Authorize, "{")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }

        await (await service.Public.GetPaymentAsync(orderId)).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0, await service.CountRowsAsync(orderId));

        // The same request with the token goes through, so the 401s above were about the token only.
        await (await _internal.AuthorizeAsync(orderId, "10")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Get_is_public()
    {
        var orderId = Guid.NewGuid();
        await (await _internal.AuthorizeAsync(orderId, "1")).ExpectAsync(HttpStatusCode.OK);
        await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
    }
}
