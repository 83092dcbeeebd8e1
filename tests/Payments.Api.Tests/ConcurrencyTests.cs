using System.Net;
using Xunit;

namespace Payments.Api.Tests;

public sealed class ConcurrencyTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    [Fact]
    public async Task Thirty_concurrent_authorizes_of_one_order_make_exactly_one_payment()
    {
        var orderId = Guid.NewGuid();
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 30).Select(async i =>
        {
            await start.WaitAsync(Http.Ct);
            // Half send 100, half 100.00: the same amount.
            var response = await service.Internal.AuthorizeAsync(orderId, i % 2 == 0 ? "100" : "100.00");
            return await response.ExpectAsync(HttpStatusCode.OK);
        }).ToArray();
        start.Release(tasks.Length);
        var answers = await Task.WhenAll(tasks);

        Assert.Single(answers.Select(a => a.GetProperty("payment_id").GetGuid()).Distinct());
        Assert.All(answers, a => Assert.Equal("AUTHORIZED", a.GetProperty("status").GetString()));
        Assert.Equal(1, await service.CountRowsAsync(orderId));
    }

    [Fact]
    public async Task Concurrent_authorizes_with_different_amounts_have_one_winner()
    {
        var orderId = Guid.NewGuid();
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 20).Select(async i =>
        {
            await start.WaitAsync(Http.Ct);
            var response = await service.Internal.AuthorizeAsync(orderId, (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
            return (response.StatusCode, Body: await response.ReadJsonAsync(), Amount: i + 1m);
        }).ToArray();
        start.Release(tasks.Length);
        var answers = await Task.WhenAll(tasks);

        var winners = answers.Where(a => a.StatusCode == HttpStatusCode.OK).ToArray();
        var winner = Assert.Single(winners);
        Assert.All(answers.Where(a => a.StatusCode != HttpStatusCode.OK), a =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, a.StatusCode);
            Assert.Equal("idempotency_key_reused", a.Body.GetProperty("code").GetString());
        });
        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(winner.Amount, stored.GetProperty("amount").GetDecimal());
        Assert.Equal(1, await service.CountRowsAsync(orderId));
    }

    [Fact]
    public async Task Concurrent_authorize_and_void_never_leave_a_live_authorization()
    {
        var orders = Enumerable.Range(0, 60).Select(_ => Guid.NewGuid()).ToArray();
        using var start = new SemaphoreSlim(0);
        var authorizes = orders.Select(async id =>
        {
            await start.WaitAsync(Http.Ct);
            var response = await service.Internal.AuthorizeAsync(id, "100");
            return (id, response.StatusCode, Body: await response.ReadJsonAsync());
        }).ToArray();
        var voids = orders.Select(async id =>
        {
            await start.WaitAsync(Http.Ct);
            var response = await service.Internal.VoidAsync(id);
            return (id, response.StatusCode);
        }).ToArray();
        start.Release(orders.Length * 2);
        var authorizeResults = await Task.WhenAll(authorizes);
        var voidResults = await Task.WhenAll(voids);

        Assert.All(voidResults, v => Assert.Equal(HttpStatusCode.OK, v.StatusCode));
        var authorizedFirst = 0;
        var voidedFirst = 0;
        foreach (var (id, status, body) in authorizeResults)
        {
            // Either the authorize won (200 AUTHORIZED, later voided) or the void's tombstone came first (409).
            if (status == HttpStatusCode.OK)
            {
                Assert.Equal("AUTHORIZED", body.GetProperty("status").GetString());
                authorizedFirst++;
            }
            else
            {
                Assert.Equal(HttpStatusCode.Conflict, status);
                Assert.Equal("payment_voided", body.GetProperty("code").GetString());
                voidedFirst++;
            }

            // Every void answered 200, so nothing may be live now, and nothing can be authorized any more.
            var stored = await (await service.Public.GetPaymentAsync(id)).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("VOIDED", stored.GetProperty("status").GetString());
            Assert.Equal(1, await service.CountRowsAsync(id));
            await (await service.Internal.AuthorizeAsync(id, "100")).ExpectProblemAsync(HttpStatusCode.Conflict, "payment_voided");
        }
        Assert.Equal(orders.Length, authorizedFirst + voidedFirst);
    }

    [Fact]
    public async Task Many_concurrent_voids_of_one_unknown_order_make_one_tombstone()
    {
        var orderId = Guid.NewGuid();
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 30).Select(async _ =>
        {
            await start.WaitAsync(Http.Ct);
            return (await service.Internal.VoidAsync(orderId)).StatusCode;
        }).ToArray();
        start.Release(tasks.Length);
        var statuses = await Task.WhenAll(tasks);

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(1, await service.CountRowsAsync(orderId));
        var stored = await (await service.Public.GetPaymentAsync(orderId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("VOIDED", stored.GetProperty("status").GetString());
    }
}
