using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>Every bad input gets a 4xx problem+json with a code, and nothing is written.</summary>
public sealed class OrderValidationTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;

    public static TheoryData<string, string> InvalidBodies => new()
    {
        { """{"quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { """{"item_sku":"","quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { """{"item_sku":"bad sku","quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { """{"item_sku":"ÄÖ","quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { $$"""{"item_sku":"{{new string('a', 65)}}","quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { """{"item_sku":7,"quantity":1,"amount":10,"idempotency_key":"k"}""", "item_sku" },
        { """{"item_sku":"S","amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":0,"amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":-3,"amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":1000001,"amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":"2","amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":1.5,"amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":null,"amount":10,"idempotency_key":"k"}""", "quantity" },
        { """{"item_sku":"S","quantity":1,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":-0.01,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":1.234,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":1000000000.01,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":"10","idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":10}""", "idempotency_key" },
        { """{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":""}""", "idempotency_key" },
        { $$"""{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"{{new string('k', 256)}}"}""", "idempotency_key" },
        { """{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"tab\there"}""", "idempotency_key" },
        { """{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"é"}""", "idempotency_key" },
        { """{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":5}""", "idempotency_key" },
        // Decided on the number's text: as a decimal these round to 2 places (1000.00, 10.00, 0.00).
        { """{"item_sku":"S","quantity":1,"amount":999.9999999999999999999999999999,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":10.000000000000000000000000000001,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":1e-3,"idempotency_key":"k"}""", "amount" },
        { """{"item_sku":"S","quantity":1,"amount":1E-30,"idempotency_key":"k"}""", "amount" },
    };

    [Theory]
    [InlineData("100.50", 100.5)]
    [InlineData("1.500000000000000000000000000000000", 1.5)]
    [InlineData("15e-2", 0.15)]
    [InlineData("1e2", 100)]
    [InlineData("0.10E1", 1)]
    public async Task AmountWithAtMostTwoDecimalsOnceTrailingZerosAreDroppedIsAccepted(string amount, decimal expected)
    {
        var sku = $"D-{Guid.NewGuid():N}"[..20];
        await System.ReceiveStockAsync(sku, 5);
        using var response = await PostRawAsync($$"""{"item_sku":"{{sku}}","quantity":1,"amount":{{amount}},"idempotency_key":"{{sku}}"}""", "application/json");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(expected, (await OmsSystem.BodyAsync(response))["amount"]!.GetValue<decimal>());
    }

    [Theory]
    [InlineData("""{"item_sku":"\ud800","quantity":1,"amount":1,"idempotency_key":"k"}""")]
    [InlineData("""{"item_sku":"S","quantity":1,"amount":1,"idempotency_key":"\udc00"}""")]
    [InlineData("""{"item_sku":"S","quantity":1,"amount":1,"idempotency_key":"k","note":"\ud83dx"}""")]
    [InlineData("""{"item_sku\ud800":"S","quantity":1,"amount":1,"idempotency_key":"k"}""")]
    [InlineData("""{"item_sku":"S","quantity":1,"amount":1,"idempotency_key":"k","x":[{"y":"\udfff"}]}""")]
    public async Task EscapeThatIsNotValidUtf16Is400AndNothingIsWritten(string body)
    {
        var before = await OrderCountAsync();
        using var response = await PostRawAsync(body, "application/json");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "malformed_json");
        Assert.Equal(before, await OrderCountAsync());
    }

    [Fact]
    public async Task BodyThatIsNotValidUtf8Is400()
    {
        var before = await OrderCountAsync();
        byte[] body = [.. """{"item_sku":"S"""u8, 0xFF, 0xC3, .. "\",\"quantity\":1,\"amount\":1,\"idempotency_key\":\"k\"}"u8];
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        using var response = await System.Orders.PostAsync("/api/v1/orders", content, TestContext.Current.CancellationToken);
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "malformed_json");
        Assert.Equal(before, await OrderCountAsync());
    }

    [Fact]
    public async Task SeveralIdempotencyKeyHeadersAre400AndNothingIsWritten()
    {
        var before = await OrderCountAsync();
        // Two header lines, as HttpClient would never send them (it folds values into one line): a raw request.
        const string body = """{"item_sku":"S","quantity":1,"amount":10}""";
        var uri = System.Orders.BaseAddress!;
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port, TestContext.Current.CancellationToken);
        await using var stream = tcp.GetStream();
        var request = $"POST /api/v1/orders HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\n" +
                      $"Idempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        var answer = await new StreamReader(stream).ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Contains("application/problem+json", answer);
        Assert.Contains("\"code\":\"validation_failed\"", answer);
        Assert.Contains("several Idempotency-Key headers", answer);
        Assert.Equal(before, await OrderCountAsync());
    }

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task InvalidFieldIsRejectedAndNothingIsWritten(string body, string field)
    {
        var before = await OrderCountAsync();
        using var response = await PostRawAsync(body, "application/json");
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for {field}");
        Assert.Equal(before, await OrderCountAsync());
    }

    [Theory]
    [InlineData("{not json", "malformed_json")]
    [InlineData("[1,2,3]", "malformed_json")]
    [InlineData("\"just a string\"", "malformed_json")]
    [InlineData("", "malformed_json")]
    public async Task MalformedJsonIs400(string body, string code)
    {
        using var response = await PostRawAsync(body, "application/json");
        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task NonJsonContentTypeIs415()
    {
        using var response = await PostRawAsync("""{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"ct"}""", "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await OmsSystem.BodyAsync(response)).Str("code"));
    }

    [Fact]
    public async Task BodyOver64KiBIs413()
    {
        var before = await OrderCountAsync();
        var padding = new string('x', 70 * 1024);
        using var response = await PostRawAsync($$"""{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"big","pad":"{{padding}}"}""", "application/json");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("payload_too_large", (await OmsSystem.BodyAsync(response)).Str("code"));
        Assert.Equal(before, await OrderCountAsync());
    }

    [Fact]
    public async Task HeaderKeyThatDiffersFromBodyKeyIs400()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/orders")
        {
            Content = new StringContent("""{"item_sku":"S","quantity":1,"amount":10,"idempotency_key":"body-key"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "header-key");
        using var response = await System.Orders.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", (await OmsSystem.BodyAsync(response)).Str("code"));
    }

    [Fact]
    public async Task UnknownFieldsAreIgnored()
    {
        var sku = $"U-{Guid.NewGuid():N}"[..20];
        await System.ReceiveStockAsync(sku, 5);
        using var response = await PostRawAsync($$"""{"item_sku":"{{sku}}","quantity":1,"amount":10,"idempotency_key":"{{sku}}","colour":"red"}""", "application/json");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task OrderIdThatIsNotAUuidIs400AndUnknownIs404()
    {
        var ct = TestContext.Current.CancellationToken;
        using var bad = await System.Orders.GetAsync("/api/v1/orders/not-a-uuid", ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var missing = await System.Orders.GetAsync($"/api/v1/orders/{Guid.NewGuid()}", ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("not_found", (await OmsSystem.BodyAsync(missing)).Str("code"));
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=501")]
    [InlineData("limit=abc")]
    [InlineData("after=%%%")]
    [InlineData("after=AAAA")]
    [InlineData("status=SHIPPED")]
    [InlineData("item_sku=bad%20sku")]
    public async Task BadListQueryIs400(string query)
    {
        using var response = await System.Orders.GetAsync($"/api/v1/orders?{query}", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", (await OmsSystem.BodyAsync(response)).Str("code"));
    }

    private Task<HttpResponseMessage> PostRawAsync(string body, string contentType) =>
        System.Orders.PostAsync("/api/v1/orders", new StringContent(body, Encoding.UTF8, contentType), TestContext.Current.CancellationToken);

    private Task<long> OrderCountAsync() => OmsSystem.ScalarAsync<long>(System.OrdersDb, "SELECT count(*) FROM orders");
}
