using System.Net;
using System.Text.Json;
using Xunit;

namespace Payments.Api.Tests;

public sealed class AuthorizeTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    private readonly HttpClient _internal = service.Internal;

    [Theory]
    [InlineData("999.99", "AUTHORIZED")]
    [InlineData("1000", "DECLINED")]
    [InlineData("1000.00", "DECLINED")]
    [InlineData("0", "AUTHORIZED")]
    [InlineData("1000000000", "DECLINED")]
    public async Task Amount_below_1000_is_authorized_and_1000_or_more_declined(string amount, string expected)
    {
        var orderId = Guid.NewGuid();

        var payment = await (await _internal.AuthorizeAsync(orderId, amount)).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(expected, payment.GetProperty("status").GetString());
        Assert.Equal(orderId, payment.GetProperty("order_id").GetGuid());
        Assert.Equal(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), payment.GetProperty("amount").GetDecimal());
        Assert.Equal(JsonValueKind.Number, payment.GetProperty("amount").ValueKind);
        Assert.NotEqual(Guid.Empty, payment.GetProperty("payment_id").GetGuid());

        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(expected, stored.GetProperty("status").GetString());
        Assert.Equal(payment.GetProperty("payment_id").GetGuid(), stored.GetProperty("payment_id").GetGuid());
    }

    [Fact]
    public async Task Replay_returns_the_same_payment_and_writes_nothing()
    {
        var orderId = Guid.NewGuid();
        var first = await (await _internal.AuthorizeAsync(orderId, "250.5")).ExpectAsync(HttpStatusCode.OK);
        var before = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);

        var second = await (await _internal.AuthorizeAsync(orderId, "250.50")).ExpectAsync(HttpStatusCode.OK);
        var after = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(first.GetProperty("payment_id").GetGuid(), second.GetProperty("payment_id").GetGuid());
        Assert.Equal("AUTHORIZED", second.GetProperty("status").GetString());
        Assert.Equal(250.50m, second.GetProperty("amount").GetDecimal());
        Assert.Equal(before.GetProperty("updated_at").GetDateTime(), after.GetProperty("updated_at").GetDateTime());
        Assert.Equal(1, await service.CountRowsAsync(orderId));
    }

    [Fact]
    public async Task Amount_100_and_100_00_are_the_same_amount()
    {
        var orderId = Guid.NewGuid();
        var first = await (await _internal.AuthorizeAsync(orderId, "100")).ExpectAsync(HttpStatusCode.OK);
        var second = await (await _internal.AuthorizeAsync(orderId, "100.00")).ExpectAsync(HttpStatusCode.OK);
        var third = await (await _internal.AuthorizeAsync(orderId, "1e2")).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(first.GetProperty("payment_id").GetGuid(), second.GetProperty("payment_id").GetGuid());
        Assert.Equal(first.GetProperty("payment_id").GetGuid(), third.GetProperty("payment_id").GetGuid());
    }

    [Fact]
    public async Task Replay_of_a_declined_payment_stays_declined()
    {
        var orderId = Guid.NewGuid();
        var first = await (await _internal.AuthorizeAsync(orderId, "1500")).ExpectAsync(HttpStatusCode.OK);
        var second = await (await _internal.AuthorizeAsync(orderId, "1500")).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("DECLINED", second.GetProperty("status").GetString());
        Assert.Equal(first.GetProperty("payment_id").GetGuid(), second.GetProperty("payment_id").GetGuid());
    }

    [Fact]
    public async Task Another_amount_for_the_same_order_is_422_and_changes_nothing()
    {
        var orderId = Guid.NewGuid();
        var first = await (await _internal.AuthorizeAsync(orderId, "100")).ExpectAsync(HttpStatusCode.OK);

        await (await _internal.AuthorizeAsync(orderId, "100.01")).ExpectProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        await (await _internal.AuthorizeAsync(orderId, "5000")).ExpectProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");

        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(100m, stored.GetProperty("amount").GetDecimal());
        Assert.Equal("AUTHORIZED", stored.GetProperty("status").GetString());
        Assert.Equal(first.GetProperty("payment_id").GetGuid(), stored.GetProperty("payment_id").GetGuid());
    }

    [Fact]
    public async Task Distinct_orders_get_distinct_payment_ids()
    {
        var a = await (await _internal.AuthorizeAsync(Guid.NewGuid(), "10")).ExpectAsync(HttpStatusCode.OK);
        var b = await (await _internal.AuthorizeAsync(Guid.NewGuid(), "10")).ExpectAsync(HttpStatusCode.OK);
        Assert.NotEqual(a.GetProperty("payment_id").GetGuid(), b.GetProperty("payment_id").GetGuid());
    }

    [Fact]
    public async Task Get_returns_the_payment_with_utc_timestamps()
    {
        var orderId = Guid.NewGuid();
        var payment = await (await _internal.AuthorizeAsync(orderId, "42.1")).ExpectAsync(HttpStatusCode.OK);

        var response = await service.Public.GetPaymentAsync(orderId);
        var stored = await response.ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("application/json", response.MediaType()?.MediaType);
        Assert.Equal(payment.GetProperty("payment_id").GetGuid(), stored.GetProperty("payment_id").GetGuid());
        Assert.Equal(orderId, stored.GetProperty("order_id").GetGuid());
        Assert.Equal(42.10m, stored.GetProperty("amount").GetDecimal());
        Assert.Equal("AUTHORIZED", stored.GetProperty("status").GetString());
        foreach (var field in new[] { "created_at", "updated_at" })
        {
            var text = stored.GetProperty(field).GetString()!;
            Assert.EndsWith("Z", text);
            Assert.InRange(DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
        }
    }

    [Fact]
    public async Task Get_of_an_unknown_order_is_404()
    {
        await (await service.Public.GetPaymentAsync(Guid.NewGuid())).ExpectProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("12345")]
    [InlineData("00000000-0000-0000-0000-00000000000g")]
    public async Task Get_with_a_non_uuid_order_id_is_400(string orderId)
    {
        var problem = await (await service.Public.GetAsync($"/api/v1/payments/{orderId}", Http.Ct))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("order_id", out _));
    }
}
