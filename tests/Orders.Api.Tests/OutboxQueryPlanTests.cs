using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// The relay's statements on a big outbox: its batch read and its prune read a bounded number of rows through
/// outbox_unsent and the primary keys, never a scan of outbox or order_events, with parameter values or without.
/// </summary>
public sealed class OutboxQueryPlanTests(PostgresServer pg)
{
    private const int Orders = 20_000;

    [Fact]
    public async Task The_batch_read_and_the_prune_use_indexes_never_a_scan()
    {
        var ct = TestContext.Current.CancellationToken;
        var connectionString = await pg.CreateDatabaseAsync("orders_outbox_plans");
        new Oms.Database.DatabaseMigrator(connectionString, typeof(OrderStore).Assembly).Migrate(NullLogger.Instance);
        await using var db = NpgsqlDataSource.Create(connectionString);
        // Every order: four events and two outbox rows (created; the confirm's three), all sent but the last 1 %; the
        // sent ones a day old, so the prune has work.
        await using (var fill = db.CreateCommand(
            $"""
             INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at, data)
             SELECT gen_random_uuid(), o, s, (ARRAY['order.created', 'order.stock_reserved', 'order.payment_authorized', 'order.confirmed'])[s], now(), '{"{}"}'
             FROM (SELECT gen_random_uuid() AS o FROM generate_series(1, {Orders})) AS orders, generate_series(1, 4) AS s;
             INSERT INTO outbox (order_id, first_sequence, last_sequence, created_at, sent_at)
             SELECT order_id, CASE WHEN first THEN 1 ELSE 2 END, CASE WHEN first THEN 1 ELSE 4 END, now() - interval '1 day', now() - interval '1 day'
             FROM (SELECT DISTINCT order_id FROM order_events) AS o, (VALUES (true), (false)) AS r(first)
             ORDER BY order_id, first DESC;
             UPDATE outbox SET sent_at = NULL WHERE position > (SELECT max(position) FROM outbox) * 99 / 100;
             ANALYZE outbox; ANALYZE order_events;
             """))
            await fill.ExecuteNonQueryAsync(ct);

        await using var connection = await db.OpenConnectionAsync(ct);
        var plans = new List<(string What, JsonObject Plan)>();
        foreach (var (name, sql, types, values) in new[]
                 {
                     ("batch", OutboxStore.ReadBatchSql, "int", "500"),
                     ("prune", OutboxStore.PruneSql, "interval, int, bigint", "interval '1 hour', 5000, 0"),
                 })
        {
            await using (var custom = new NpgsqlCommand($"EXPLAIN (FORMAT JSON) {sql}", connection))
            {
                if (name == "batch") custom.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 500 });
                else
                {
                    custom.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = TimeSpan.FromHours(1) });
                    custom.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 5000 });
                    custom.Parameters.Add(new NpgsqlParameter<long> { TypedValue = 0 });
                }
                plans.Add(($"{name}, custom", JsonNode.Parse((string)(await custom.ExecuteScalarAsync(ct))!)![0]!["Plan"]!.AsObject()));
            }
            foreach (var setup in new[] { "SET plan_cache_mode = force_generic_plan", $"PREPARE relay_{name} ({types}) AS {sql}" })
            {
                await using var command = new NpgsqlCommand(setup, connection);
                await command.ExecuteNonQueryAsync(ct);
            }
            await using (var generic = new NpgsqlCommand($"EXPLAIN (FORMAT JSON) EXECUTE relay_{name} ({values})", connection))
                plans.Add(($"{name}, generic", JsonNode.Parse((string)(await generic.ExecuteScalarAsync(ct))!)![0]!["Plan"]!.AsObject()));
            await using (var reset = new NpgsqlCommand($"DEALLOCATE relay_{name}; RESET plan_cache_mode", connection))
                await reset.ExecuteNonQueryAsync(ct);
        }

        foreach (var (what, plan) in plans)
        {
            var nodes = Nodes(plan).ToList();
            Assert.False(nodes.Any(n => n["Node Type"]!.GetValue<string>() == "Seq Scan"), $"{what}: {plan.ToJsonString()}");
            Assert.Contains(nodes, n => n["Index Name"]?.GetValue<string>() == (what.StartsWith("batch") ? "outbox_unsent" : "outbox_pkey"));
            if (what.StartsWith("batch")) Assert.Contains(nodes, n => n["Index Name"]?.GetValue<string>() == "order_events_pkey");
        }

        // And the batch is what it reads: the unsent rows' events, in position then sequence order.
        await using var relay = new NpgsqlConnection(connectionString);
        await relay.OpenAsync(ct);
        var (rows, events) = await OutboxStore.ReadBatchAsync(relay, 500, ct);
        Assert.Equal(400, rows); // 1 % of 40,000 rows
        Assert.Equal(events.OrderBy(e => e.Position).ThenBy(e => e.Sequence), events);
    }

    private static IEnumerable<JsonObject> Nodes(JsonObject node)
    {
        yield return node;
        foreach (var child in node["Plans"]?.AsArray() ?? [])
            foreach (var descendant in Nodes(child!.AsObject()))
                yield return descendant;
    }
}
