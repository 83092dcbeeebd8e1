using System.Net;
using Xunit;

namespace Payments.Api.Tests;

public sealed class VoidTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    private readonly HttpClient _internal = service.Internal;

    [Fact]
    public async Task Void_cancels_an_authorization_and_is_idempotent()
    {
        var orderId = Guid.NewGuid();
        var payment = await (await _internal.AuthorizeAsync(orderId, "100")).ExpectAsync(HttpStatusCode.OK);

        var voided = await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(orderId, voided.GetProperty("order_id").GetGuid());
        Assert.Equal("VOIDED", voided.GetProperty("status").GetString());

        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", stored.GetProperty("status").GetString());
        Assert.Equal(payment.GetProperty("payment_id").GetGuid(), stored.GetProperty("payment_id").GetGuid());
        Assert.Equal(100m, stored.GetProperty("amount").GetDecimal());
        Assert.True(stored.GetProperty("updated_at").GetDateTime() >= stored.GetProperty("created_at").GetDateTime());

        var again = await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", again.GetProperty("status").GetString());
        var after = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(stored.GetProperty("updated_at").GetDateTime(), after.GetProperty("updated_at").GetDateTime());
        Assert.Equal(1, await service.CountRowsAsync(orderId));
    }

    [Fact]
    public async Task Authorize_after_a_void_is_409_payment_voided()
    {
        var orderId = Guid.NewGuid();
        await (await _internal.AuthorizeAsync(orderId, "100")).ExpectAsync(HttpStatusCode.OK);
        await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);

        await (await _internal.AuthorizeAsync(orderId, "100")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");
        // Voided wins over a different amount too.
        await (await _internal.AuthorizeAsync(orderId, "7")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");

        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", stored.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Void_of_an_unknown_order_records_a_tombstone_that_refuses_a_late_authorize()
    {
        var orderId = Guid.NewGuid();
        await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);

        var tombstone = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", tombstone.GetProperty("status").GetString());
        Assert.Equal(0m, tombstone.GetProperty("amount").GetDecimal());
        Assert.NotEqual(Guid.Empty, tombstone.GetProperty("payment_id").GetGuid());

        await (await _internal.AuthorizeAsync(orderId, "100")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");
        await (await _internal.AuthorizeAsync(orderId, "0")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");

        await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        var after = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(tombstone.GetProperty("payment_id").GetGuid(), after.GetProperty("payment_id").GetGuid());
        Assert.Equal(1, await service.CountRowsAsync(orderId));
    }

    [Fact]
    public async Task Void_of_a_declined_payment_marks_it_voided()
    {
        var orderId = Guid.NewGuid();
        await (await _internal.AuthorizeAsync(orderId, "1000")).ExpectAsync(HttpStatusCode.OK);
        await (await _internal.VoidAsync(orderId)).ExpectAsync(HttpStatusCode.OK);

        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", stored.GetProperty("status").GetString());
        Assert.Equal(1000m, stored.GetProperty("amount").GetDecimal());
        await (await _internal.AuthorizeAsync(orderId, "1000")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");
    }
}
