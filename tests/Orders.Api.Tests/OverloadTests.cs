using System.Net;
using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>When the database stalls, writes waiting for it are bounded: past the bound a request is shed with 503 + Retry-After.</summary>
public sealed class OverloadTests(PostgresServer pg)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writes_waiting_on_a_stalled_database_are_bounded_and_the_rest_are_shed_with_503_and_Retry_After()
    {
        // One lane, groups of at most 2, at most 2 waiting: at most 4 order inserts can be held while the table is locked.
        await using var system = await OmsSystem.StartAsync(pg, orderSettings: new Dictionary<string, string?>
        {
            ["Coalescing:Lanes"] = "1", ["Coalescing:MaxBatch"] = "2", ["Coalescing:MaxQueue"] = "2", ["Coalescing:RetryAfter"] = "00:00:02",
            // A confirm that finds its queue full leaves the order to the worker once the request's lease (budget + 5 s) ends.
            ["Saga:RequestBudget"] = "00:00:05",
        });
        var sku = $"O-{Guid.NewGuid():N}"[..24];
        await system.ReceiveStockAsync(sku, 100);

        var admin = new NpgsqlConnectionStringBuilder(pg.AdminConnectionString) { Database = new NpgsqlConnectionStringBuilder(system.OrdersDb).Database };
        await using var stall = new NpgsqlConnection(admin.ConnectionString);
        await stall.OpenAsync(Ct);
        var transaction = await stall.BeginTransactionAsync(Ct);
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", stall, transaction))
            await lockTable.ExecuteNonQueryAsync(Ct);

        var requests = Enumerable.Range(0, 10).Select(i => system.PlaceAsync(sku, 1, 10m, $"{sku}-{i}")).ToArray();
        // Six or more cannot be held: they are answered while the database is still stalled.
        await Eventually.UntilAsync(() => Task.FromResult(requests.Count(r => r.IsCompleted) >= 6), TimeSpan.FromSeconds(60),
            "the requests past the bound to be answered");
        foreach (var response in await Task.WhenAll(requests.Where(r => r.IsCompleted)))
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable, "service_unavailable");

        // Once the database is back, every request was either shed at the door (503 + Retry-After, nothing written) or
        // held and then created: 201, or 202 when its confirm was shed in turn and the order left to the worker.
        await transaction.RollbackAsync(Ct);
        var responses = await Task.WhenAll(requests);
        var shed = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToArray();
        var held = responses.Where(r => r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted).ToArray();
        Assert.Equal(responses.Length, shed.Length + held.Length);
        Assert.InRange(held.Length, 1, 4);
        Assert.All(shed, r => Assert.Equal(TimeSpan.FromSeconds(2), r.Headers.RetryAfter?.Delta));
        Assert.Equal(held.Length, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM orders WHERE item_sku = $1", sku));
        foreach (var response in held)
        {
            var order = await OmsSystem.BodyAsync(response);
            Assert.Equal("CONFIRMED", (await system.WaitFinalAsync(order.Str("order_id"), TimeSpan.FromSeconds(60))).Str("status"));
        }
        Assert.Equal(100 - held.Length, await system.AvailableAsync(sku));
    }
}
