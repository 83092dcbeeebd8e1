using System.Net;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// The warm-up before readiness across the three services, as deploy/k8s runs it (h2c between them): the order service's
/// warm-up runs the saga's reserve and authorize through its own clients, inventory runs its reserve transaction, and
/// none of it writes a row anywhere.
/// </summary>
public sealed class WarmupTests(PostgresServer pg)
{
    private const int Rounds = 40;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_warm_up_runs_the_saga_paths_of_all_three_services_and_writes_nothing()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, everyServiceSettings: new Dictionary<string, string?>
        {
            ["Warmup:Enabled"] = "true",
            ["Warmup:Rounds"] = Rounds.ToString(),
            // Exactly the rounds (no settling), so the counts below tell the order service's calls from inventory's own.
            ["Warmup:SettleWindow"] = "00:00:00",
        });

        foreach (var (name, client) in new[] { ("orders", system.Orders), ("inventory", system.Inventory), ("payments", system.Payments) })
            await Eventually.UntilAsync(async () =>
            {
                using var ready = await client.GetAsync("/health/ready", Ct);
                return ready.StatusCode == HttpStatusCode.OK;
            }, Deadline, $"{name} ready after its warm-up");

        // Inventory answered unknown_item to reserves of items that exist nowhere: its own warm-up's and the order
        // service's (through the saga's client), so at least twice the rounds.
        var inventoryMetrics = await system.Inventory.GetStringAsync("/metrics", Ct);
        Assert.True(Count(inventoryMetrics, "/api/v1/stock/reserve", "404") >= 2 * Rounds,
            $"at least {2 * Rounds} reserves answered 404 expected: {Lines(inventoryMetrics, "reserve")}");
        var paymentMetrics = await system.Payments.GetStringAsync("/metrics", Ct);
        Assert.True(Count(paymentMetrics, "/api/v1/payments/authorize", "400") >= 2 * Rounds,
            $"at least {2 * Rounds} authorizes answered 400 expected: {Lines(paymentMetrics, "authorize")}");

        foreach (var (db, tables) in new[]
                 {
                     (system.OrdersDb, new[] { "orders", "order_lines", "order_events", "outbox" }),
                     (system.InventoryDb, new[] { "items", "reservations", "reservation_lines" }),
                     (system.PaymentsDb, new[] { "payments" }),
                 })
            foreach (var table in tables)
                Assert.Equal(0L, await OmsSystem.ScalarAsync<long>(db, $"SELECT count(*) FROM {table}"));
    }

    private static long Count(string metrics, string route, string status) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal)
                        && l.Contains($"http_route=\"{route}\"") && l.Contains($"http_response_status_code=\"{status}\""))
            .Sum(l => long.Parse(l.Split(' ')[^1]));

    private static string Lines(string metrics, string contains) =>
        string.Join(" | ", metrics.Split('\n').Where(l => l.Contains(contains) && l.Contains("_count")).Take(6));
}
