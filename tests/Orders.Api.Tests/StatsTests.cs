using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>A fresh system whose stats are computed on every request (no cache), so a test sees its own orders at once.</summary>
public sealed class StatsSystemFixture(PostgresServer pg) : IAsyncLifetime
{
    public OmsSystem System { get; private set; } = null!;
    public async ValueTask InitializeAsync() =>
        System = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: new Dictionary<string, string?> { ["Stats:CacheFor"] = "00:00:00" });
    public async ValueTask DisposeAsync() => await System.DisposeAsync();
}

/// <summary>GET /api/v1/orders/stats against real orders: placed through the API, and written at chosen times in the database.</summary>
public sealed class StatsTests(StatsSystemFixture fixture, PostgresServer pg) : IClassFixture<StatsSystemFixture>
{
    private OmsSystem System => fixture.System;

    private sealed record Known(DateTime CreatedAt, string Status, string? Reason);

    [Fact]
    public async Task Counts_every_minute_of_the_last_hour_by_status_with_failures_by_reason_and_the_pending_orders()
    {
        var ct = TestContext.Current.CancellationToken;
        var known = new List<Known>();
        var sku = $"ST-{Guid.NewGuid():N}"[..20];
        await System.ReceiveStockAsync(sku, 3);

        async Task<JsonObject> PlaceAsync(string itemSku, int quantity, HttpStatusCode expected)
        {
            using var response = await System.PlaceAsync(itemSku, quantity, 10m, $"st-{Guid.NewGuid():N}");
            Assert.Equal(expected, response.StatusCode);
            return await OmsSystem.BodyAsync(response);
        }
        static DateTime CreatedAt(JsonObject order) => order["created_at"]!.GetValue<DateTime>().ToUniversalTime();

        // Through the API: two CONFIRMED, one of them then CANCELLED, and two FAILED for two reasons.
        foreach (var _ in Enumerable.Range(0, 2))
            known.Add(new(CreatedAt(await PlaceAsync(sku, 1, HttpStatusCode.Created)), OrderStatus.Confirmed, null));
        var cancelled = await PlaceAsync(sku, 1, HttpStatusCode.Created);
        using (var cancel = await System.Orders.PostAsync($"/api/v1/orders/{cancelled.Str("order_id")}/cancel", JsonContent.Create(new { }), ct))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        known.Add(new(CreatedAt(cancelled), OrderStatus.Cancelled, null));
        var noStock = await PlaceAsync(sku, 5, HttpStatusCode.Created);
        Assert.Equal(FailureReason.InsufficientStock, noStock.Str("failure_reason"));
        known.Add(new(CreatedAt(noStock), OrderStatus.Failed, FailureReason.InsufficientStock));
        var unknown = await PlaceAsync($"NOPE-{Guid.NewGuid():N}"[..20], 1, HttpStatusCode.Created);
        Assert.Equal(FailureReason.UnknownItem, unknown.Str("failure_reason"));
        known.Add(new(CreatedAt(unknown), OrderStatus.Failed, FailureReason.UnknownItem));

        // In the database, at chosen times: earlier minutes of the window, just outside it, and PENDING orders whose
        // lease runs for a day (so the recovery worker leaves them PENDING).
        var now = DateTime.UtcNow;
        var written = new List<Known>
        {
            new(now.AddMinutes(-30), OrderStatus.Confirmed, null),
            new(now.AddMinutes(-30).AddSeconds(1), OrderStatus.Failed, FailureReason.PaymentDeclined),
            new(now.AddMinutes(-45), OrderStatus.Cancelled, null),
            new(now.AddMinutes(-58), OrderStatus.Failed, FailureReason.InsufficientStock),
            new(now.AddMinutes(-61), OrderStatus.Confirmed, null),
            new(now.AddHours(-3), OrderStatus.Failed, FailureReason.PaymentDeclined),
            new(now.AddMinutes(-10), OrderStatus.Pending, null),
            new(now.AddMinutes(-20), OrderStatus.Pending, null),
            new(now.AddHours(-2), OrderStatus.Pending, null),
        };
        foreach (var order in written)
            await TestDb.ExecuteAsync(System.OrdersDb,
                """
                INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, in_request, lease_token,
                                    lease_until, created_at, updated_at, cancel_requested_at)
                VALUES (gen_random_uuid(), gen_random_uuid()::text, 'ST-WRITTEN', 1, 1, $1, $2, false, gen_random_uuid(),
                        now() + interval '1 day', $3, $3, CASE WHEN $1 = 'CANCELLED' THEN $3 END)
                """,
                order.Status, (object?)order.Reason ?? DBNull.Value, order.CreatedAt);
        known.AddRange(written);

        using var response = await System.Orders.GetAsync("/api/v1/orders/stats", ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stats = await OmsSystem.BodyAsync(response);

        Assert.Equal(60, stats["window_minutes"]!.GetValue<int>());
        var minutes = stats["per_minute"]!.AsArray().Select(m => m!.AsObject()).ToList();
        Assert.Equal(60, minutes.Count);
        var first = minutes[0]["minute"]!.GetValue<DateTime>().ToUniversalTime();
        for (var i = 0; i < 60; i++)
            Assert.Equal(first.AddMinutes(i), minutes[i]["minute"]!.GetValue<DateTime>().ToUniversalTime());
        var generatedAt = stats["generated_at"]!.GetValue<DateTime>().ToUniversalTime();
        Assert.InRange(generatedAt, first.AddMinutes(59), first.AddMinutes(60));

        // What the response must say, from the orders' own created_at: those in the window, by the minute they fell in.
        static DateTime MinuteOf(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerMinute, DateTimeKind.Utc);
        var inWindow = known.Where(o => o.CreatedAt >= first && o.CreatedAt < first.AddMinutes(60)).ToList();
        Assert.Contains(inWindow, o => o.CreatedAt < now.AddMinutes(-40)); // the window reaches back a whole hour
        for (var i = 0; i < 60; i++)
        {
            var ofMinute = inWindow.Where(o => MinuteOf(o.CreatedAt) == first.AddMinutes(i)).ToList();
            foreach (var status in OrderStatus.All)
                Assert.True(ofMinute.Count(o => o.Status == status) == minutes[i][status.ToLowerInvariant()]!.GetValue<long>(),
                    $"{status} in minute {first.AddMinutes(i):O}: {minutes[i].ToJsonString()}");
        }
        var expectedFailures = inWindow.Where(o => o.Reason is not null).GroupBy(o => o.Reason!).ToDictionary(g => g.Key, g => (long)g.Count());
        var failures = stats["failures_by_reason"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<long>());
        Assert.Equal(expectedFailures.OrderBy(kv => kv.Key), failures.OrderBy(kv => kv.Key));

        // Every PENDING order now, also the one created before the window; the oldest is two hours old.
        var pending = stats["pending"]!.AsObject();
        Assert.Equal(3, pending["count"]!.GetValue<long>());
        Assert.InRange(pending["oldest_age_seconds"]!.GetValue<double>(), 2 * 3600, 3 * 3600);

        // Publishing is off in this system: no outbox figures, and the field says so.
        Assert.True(stats.ContainsKey("outbox"));
        Assert.Null(stats["outbox"]);
    }

    [Fact]
    public async Task Every_count_reads_its_status_index_never_the_table()
    {
        var ct = TestContext.Current.CancellationToken;
        var connectionString = await pg.CreateDatabaseAsync("orders_stats_plans");
        new Oms.Database.DatabaseMigrator(connectionString, typeof(OrderStore).Assembly).Migrate(NullLogger.Instance);
        await using var db = NpgsqlDataSource.Create(connectionString);
        // 50,000 orders over the last two days (about a thousand in the last hour), all statuses, a few PENDING.
        await using (var fill = db.CreateCommand(
            """
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, lease_token, lease_until,
                                created_at, cancel_requested_at)
            SELECT gen_random_uuid(), 'k' || i, 'SKU-' || (i % 500), 1, 1, s, CASE s WHEN 'FAILED' THEN 'INSUFFICIENT_STOCK' END,
                   gen_random_uuid(), now(), t, CASE s WHEN 'CANCELLED' THEN t END
            FROM generate_series(1, 50000) AS i,
                 LATERAL (SELECT now() - i * interval '3.456 seconds' AS t,
                                 CASE WHEN i % 1000 = 0 THEN 'PENDING' WHEN i % 10 = 1 THEN 'FAILED' WHEN i % 20 = 2 THEN 'CANCELLED' ELSE 'CONFIRMED' END AS s) AS o;
            """))
            await fill.ExecuteNonQueryAsync(ct);
        // The visibility map too, as autovacuum keeps it on a real table: the counts can then read their indexes alone.
        await using (var vacuum = db.CreateCommand("VACUUM ANALYZE orders"))
            await vacuum.ExecuteNonQueryAsync(ct);

        // The counts: a range over created_at in each status's own index. PENDING: any of the PENDING partial indexes (each
        // holds exactly the PENDING orders).
        foreach (var (sql, index) in new[] { (StatsStore.CountsSql, "^orders_(pending|confirmed|failed|cancelled)_newest$"), (StatsStore.PendingSql, "^orders_pending_") })
        {
            await using var explain = db.CreateCommand($"EXPLAIN (FORMAT JSON) {sql}");
            var plan = JsonNode.Parse((string)(await explain.ExecuteScalarAsync(ct))!)![0]!["Plan"]!;
            var scans = Nodes(plan).Where(n => n["Relation Name"]?.GetValue<string>() == "orders").ToList();
            Assert.NotEmpty(scans);
            foreach (var scan in scans)
            {
                Assert.True(scan["Node Type"]!.GetValue<string>() is "Index Scan" or "Index Only Scan", plan.ToJsonString());
                Assert.Matches(index, scan["Index Name"]!.GetValue<string>());
                if (sql == StatsStore.CountsSql) Assert.Contains("created_at >=", scan["Index Cond"]!.GetValue<string>());
            }
        }
    }

    private static IEnumerable<JsonNode> Nodes(JsonNode plan) =>
        new[] { plan }.Concat(plan["Plans"]?.AsArray().SelectMany(p => Nodes(p!)) ?? []);
}

/// <summary>The stats cache, on a system of its own: its order must not show in <see cref="StatsTests"/>' exact counts.</summary>
public sealed class StatsCacheTests(SystemFixture fixture) : IClassFixture<SystemFixture>
{
    private OmsSystem System => fixture.System;

    [Fact]
    public async Task An_answer_is_shared_for_CacheFor_and_computed_again_after_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var services = System.OrderServices;
        var cached = new OrderStats(services.GetRequiredService<StatsStore>(), services.GetRequiredService<EventPublishing>(),
            services.GetRequiredService<OutboxGauges>(), Options.Create(new StatsOptions { CacheFor = TimeSpan.FromHours(1) }));
        var fresh = new OrderStats(services.GetRequiredService<StatsStore>(), services.GetRequiredService<EventPublishing>(),
            services.GetRequiredService<OutboxGauges>(), Options.Create(new StatsOptions { CacheFor = TimeSpan.Zero }));

        var before = await cached.GetAsync(ct);
        var sku = $"SC-{Guid.NewGuid():N}"[..20];
        using (var placed = await System.PlaceAsync(sku, 1, 1m, $"sc-{Guid.NewGuid():N}"))
            Assert.Equal(HttpStatusCode.Created, placed.StatusCode); // FAILED: UNKNOWN_ITEM

        // Within CacheFor: the very same answer, without the new order; computed anew: the order is counted.
        Assert.Same(before, await cached.GetAsync(ct));
        var after = await fresh.GetAsync(ct);
        Assert.Equal(before.FailuresByReason.GetValueOrDefault(FailureReason.UnknownItem) + 1, after.FailuresByReason[FailureReason.UnknownItem]);
    }
}
