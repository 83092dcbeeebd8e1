using Oms.Chaos;
using Oms.Testing;
using Xunit;

namespace Oms.Chaos.Tests;

/// <summary>The checker itself: a consistent state passes, and each broken invariant is reported.</summary>
public sealed class InvariantCheckerTests
{
    [Fact]
    public async Task ReportsEachBrokenInvariantAndPassesAConsistentState()
    {
        await using var pg = new ChaosPostgres();
        await pg.StartAsync();
        var root = ChaosRunner.RepoRoot();
        var dbs = new Dictionary<string, string>();
        foreach (var (name, project) in new[] { ("orders", "Orders.Api"), ("inventory", "Inventory.Api"), ("payments", "Payments.Api") })
        {
            dbs[name] = (await pg.CreateDatabaseAsync(name)).Admin;
            await TestDb.ExecuteAsync(dbs[name], await File.ReadAllTextAsync(Path.Combine(root, "src", project, "Migrations", "0001_initial.sql"),
                TestContext.Current.CancellationToken));
        }

        // A consistent state: 10 received, one CONFIRMED order of 3, one declined order fully compensated.
        Guid confirmed = Guid.NewGuid(), declined = Guid.NewGuid();
        await TestDb.ExecuteAsync(dbs["orders"], $"""
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, lease_token, lease_until) VALUES
              ('{confirmed}', 'k1', 'S', 3, 10.00, 'CONFIRMED', NULL, gen_random_uuid(), now()),
              ('{declined}', 'k2', 'S', 1, 1500.00, 'FAILED', 'PAYMENT_DECLINED', gen_random_uuid(), now())
            """);
        await TestDb.ExecuteAsync(dbs["inventory"], $"""
            INSERT INTO items (sku, available) VALUES ('S', 7);
            INSERT INTO reservations (order_id, sku, quantity, status) VALUES ('{confirmed}', 'S', 3, 'RESERVED'), ('{declined}', 'S', 1, 'RELEASED')
            """);
        await TestDb.ExecuteAsync(dbs["payments"], $"""
            INSERT INTO payments (order_id, payment_id, amount, status) VALUES
              ('{confirmed}', gen_random_uuid(), 10.00, 'AUTHORIZED'), ('{declined}', gen_random_uuid(), 1500.00, 'DECLINED')
            """);
        List<OrderPlan> plans = [new(0, "k1", "S", 3, 10.00m, false, false), new(1, "k2", "S", 1, 1500.00m, false, false)];
        var received = new Dictionary<string, long> { ["S"] = 10 };

        var ok = new ChaosResult();
        await InvariantChecker.CheckAsync(ok, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans);
        Assert.Empty(ok.Violations);
        Assert.Equal(0, ok.PendingAfterDrain);

        // Break it: the declined order still holds its stock and an authorization, and a third order stays PENDING.
        await TestDb.ExecuteAsync(dbs["inventory"], $"UPDATE reservations SET status = 'RESERVED' WHERE order_id = '{declined}'; UPDATE items SET available = 6");
        await TestDb.ExecuteAsync(dbs["payments"], $"UPDATE payments SET status = 'AUTHORIZED' WHERE order_id = '{declined}'");
        await TestDb.ExecuteAsync(dbs["orders"], """
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until)
            VALUES (gen_random_uuid(), 'k3', 'S', 1, 5.00, 'PENDING', gen_random_uuid(), now())
            """);
        plans.Add(new(2, "k3", "S", 1, 5.00m, false, false));

        var broken = new ChaosResult();
        await InvariantChecker.CheckAsync(broken, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans);
        Assert.Equal(1, broken.PendingAfterDrain);
        Assert.Contains(broken.Violations, v => v.StartsWith("FAILED", StringComparison.Ordinal) && v.Contains("RESERVED", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith("FAILED", StringComparison.Ordinal) && v.Contains("AUTHORIZED", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith("conservation S", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.Contains("still PENDING", StringComparison.Ordinal));
        Assert.False(broken.Success);
    }
}
