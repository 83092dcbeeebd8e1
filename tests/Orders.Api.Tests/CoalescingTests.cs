using System.Net;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// Under concurrency the order insert, the confirm and the payment insert run as shared statements
/// (<see cref="Oms.ServiceDefaults.Coalescer{TItem,TResult}"/>). One lane per kind makes groups likely (that
/// they form is proven by the coalescer's own tests, not by timing here).
/// Each request must still get its own answer, a key sent twice at once must still make one order, and
/// nothing may be charged or reserved twice.
/// </summary>
public sealed class CoalescingTests(PostgresServer pg) : IAsyncLifetime
{
    private OmsSystem _system = null!;

    public async ValueTask InitializeAsync() => _system = await OmsSystem.StartAsync(pg, h2c: true,
        everyServiceSettings: new Dictionary<string, string?> { ["Coalescing:Lanes"] = "1" });

    public async ValueTask DisposeAsync() => await _system.DisposeAsync();

    [Fact]
    public async Task ConcurrentOrdersShareStatementsAndEachRequestGetsItsOwnAnswer()
    {
        var sku = $"G-{Guid.NewGuid():N}"[..24];
        await _system.ReceiveStockAsync(sku, 1000);
        // 80 keys, each sent twice at the same moment: 160 requests in flight.
        var keys = Enumerable.Range(0, 80).Select(i => $"{sku}-{i}").ToArray();
        var sent = keys.Concat(keys).ToArray();
        var responses = await Task.WhenAll(sent.Select(k => _system.PlaceAsync(sku, 1 + k.Length % 3, 10m, k)));

        var answers = new List<(string Key, HttpStatusCode Status, JsonObject Body)>();
        for (var i = 0; i < sent.Length; i++)
        {
            answers.Add((sent[i], responses[i].StatusCode, await OmsSystem.BodyAsync(responses[i])));
            responses[i].Dispose();
        }
        foreach (var twins in answers.GroupBy(a => a.Key))
        {
            // One request created and confirmed the order; its twin was told the first one is running, or replayed it.
            var created = Assert.Single(twins, a => a.Status == HttpStatusCode.Created);
            Assert.Equal("CONFIRMED", created.Body.Str("status"));
            Assert.Equal(twins.Key, created.Body.Str("idempotency_key"));
            var other = Assert.Single(twins, a => a.Status != HttpStatusCode.Created);
            Assert.True(other.Status is HttpStatusCode.Conflict or HttpStatusCode.OK or HttpStatusCode.Accepted, $"twin got {(int)other.Status}");
            if (other.Status != HttpStatusCode.Conflict) Assert.Equal(created.Body.Str("order_id"), other.Body.Str("order_id"));
        }

        var orderIds = answers.Where(a => a.Status == HttpStatusCode.Created).Select(a => Guid.Parse(a.Body.Str("order_id")!)).ToArray();
        Assert.Equal(80L, await OmsSystem.ScalarAsync<long>(_system.OrdersDb,
            "SELECT count(*) FROM orders WHERE item_sku = $1 AND status = 'CONFIRMED'", sku));
        Assert.Equal(80L, await OmsSystem.ScalarAsync<long>(_system.PaymentsDb,
            "SELECT count(*) FROM payments WHERE order_id = ANY($1) AND status = 'AUTHORIZED'", orderIds));
        var confirmedQuantity = await OmsSystem.ScalarAsync<long>(_system.OrdersDb,
            "SELECT sum(quantity) FROM orders WHERE item_sku = $1", sku);
        Assert.Equal(1000 - confirmedQuantity, await _system.AvailableAsync(sku));
    }
}
