using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Oms.Database;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// A migrated orders database filled with <see cref="Rows"/> orders: 200 SKUs, a tenth of the orders of two lines,
/// few FAILED and CANCELLED orders (0.3%, 0.5%), created_at shared by three orders at a time so the order_id tie-break matters. Filled once per test class.
/// PENDING orders are 5%, a backlog: with only a few hundred the planner may rather read all of them through
/// orders_pending_lease and sort them (a read bounded by the PENDING orders, not the table), which this test would flag.
/// </summary>
public sealed class FilledOrdersDatabase(PostgresServer pg) : IAsyncLifetime
{
    public const int Rows = 40_000;
    public const string BusySku = "PLAN-100";       // 200 orders, 40 of them FAILED
    public const string SkuWithoutOrders = "PLAN-NONE";
    public const string MultiLineSku = "PLAN-15";    // only in multi-line orders: 200, 100 of them CANCELLED

    public NpgsqlDataSource Db { get; private set; } = null!;
    public OrderStore Store { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var connectionString = await pg.CreateDatabaseAsync("orders_lists");
        new DatabaseMigrator(connectionString, typeof(OrderStore).Assembly).Migrate(NullLogger.Instance);
        Db = NpgsqlDataSource.Create(connectionString);
        Store = new OrderStore(Db, Options.Create(new CoalescingOptions()));
        await using (var fill = Db.CreateCommand(
            """
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, lines, amount, status, failure_reason, cancel_requested_at,
                                in_request, lease_token, lease_until, created_at, updated_at)
            SELECT gen_random_uuid(), 'plan-' || g, CASE WHEN NOT m THEN 'PLAN-' || (g % 200) END, CASE WHEN m THEN 2 ELSE 1 END,
                   CASE WHEN m THEN jsonb_build_array(jsonb_build_object('item_sku', 'PLAN-' || (g % 200), 'quantity', 1),
                                                      jsonb_build_object('item_sku', 'PLAN-' || ((g + 5) % 200), 'quantity', 1)) END,
                   10, s, CASE WHEN s = 'FAILED' THEN 'PAYMENT_DECLINED' END, CASE WHEN s = 'CANCELLED' THEN t END, false, gen_random_uuid(), t + interval '1 day', t, t
            FROM generate_series(1, $1) AS g,
                 LATERAL (SELECT g % 10 = 5,
                                 CASE WHEN g % 500 = 0 OR g % 1000 = 5 THEN 'FAILED' WHEN g % 400 IN (3, 15) THEN 'CANCELLED'
                                      WHEN g % 20 = 1 THEN 'PENDING' ELSE 'CONFIRMED' END,
                                 timestamptz '2026-01-01 00:00:00Z' + (g / 3) * interval '1 second') AS x(m, s, t)
            """))
        {
            fill.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Rows });
            await fill.ExecuteNonQueryAsync();
        }
        // Every tenth order has two lines (PLAN-n and PLAN-(n+5)): BusySku is also the second line of 200 of them.
        await using (var lines = Db.CreateCommand(
            """
            INSERT INTO order_lines (order_id, item_sku, quantity, status, created_at)
            SELECT order_id, l ->> 'item_sku', (l ->> 'quantity')::int, status, created_at
            FROM orders, jsonb_array_elements(lines) AS l WHERE lines IS NOT NULL
            """))
            await lines.ExecuteNonQueryAsync();
        // The planner's statistics, as autovacuum would have them on a table this size.
        await using var analyze = Db.CreateCommand("VACUUM ANALYZE orders, order_lines");
        await analyze.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await Db.DisposeAsync();
    }
}

/// <summary>
/// Issue 10, item 8: every list query reads O(limit) rows, whatever its filters match (many rows, few, none).
/// Each filter combination's exact SQL runs under EXPLAIN ANALYZE on a filled table; and paging through every
/// combination gives exactly what one plain ordered query over the whole table gives.
/// </summary>
public sealed class ListQueryTests(FilledOrdersDatabase data) : IClassFixture<FilledOrdersDatabase>
{
    // The page the API reads for ?limit=50: one more row than the page, to know whether a next page exists.
    private const int PageSize = 50;
    private const int SqlLimit = PageSize + 1;
    // A page's heap pages (at most one per row read; a multi-line order's row is found from its line, through a descent
    // of orders' primary key, height ≤ 3) plus, for each of at most eight index scans (four statuses, one-line and
    // multi-line), a descent of a tree of height ≤ 3 and a few leaf pages. A walk through the table is over a thousand pages here.
    private const int MaxBuffers = SqlLimit * (1 + 3) + 8 * 8;

    public static TheoryData<string?, string?, string> Cases()
    {
        var cases = new TheoryData<string?, string?, string>();
        foreach (var status in new[] { null, OrderStatus.Pending, OrderStatus.Confirmed, OrderStatus.Failed, OrderStatus.Cancelled })
            foreach (var sku in new[] { null, FilledOrdersDatabase.BusySku, FilledOrdersDatabase.MultiLineSku, FilledOrdersDatabase.SkuWithoutOrders })
                foreach (var cursor in new[] { "first page", "second page", "mid-table cursor" })
                    cases.Add(status, sku, cursor);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryFilterCombinationReadsOnlyAboutOnePage(string? status, string? sku, string cursorKind)
    {
        var after = await CursorAsync(status, sku, cursorKind);
        var sql = OrderStore.ListSql(status, sku is not null, after is not null);
        Assert.DoesNotContain("IS NULL", sql);

        // The service's connections prepare statements, and PostgreSQL may then switch to a plan made without the
        // parameters' values: both kinds of plan must read about one page.
        long? returned = null;
        foreach (var generic in new[] { false, true })
        {
            var plan = await ExplainAsync(sql, OrderStore.ListParameters(sku, after, SqlLimit), generic);
            var shown = (generic ? "generic plan " : "plan ") + plan.ToJsonString();
            foreach (var node in Nodes(plan))
            {
                var type = node["Node Type"]!.GetValue<string>();
                Assert.True(type != "Seq Scan", $"{type} in the {shown}");
                // A sort or a bitmap scan may appear where the planner expects few matches, but then reads all of
                // them: what must hold is that no node reads more than a page, whatever the plan.
                var read = Number(node, "Actual Rows") * Number(node, "Actual Loops")
                           + Number(node, "Rows Removed by Filter") + Number(node, "Rows Removed by Index Recheck");
                Assert.True(read <= SqlLimit, $"{type} read {read} rows for a limit of {SqlLimit}: {shown}");
            }
            var buffers = Number(plan, "Shared Hit Blocks") + Number(plan, "Shared Read Blocks");
            Assert.True(buffers <= MaxBuffers, $"{buffers} buffers for a page of {SqlLimit}: {shown}");
            Assert.Equal(returned ?? Number(plan, "Actual Rows"), Number(plan, "Actual Rows"));
            returned = Number(plan, "Actual Rows");
        }

        // And the same statement through the store returns what the plan says it did.
        var rows = await data.Store.ListAsync(status, sku, after, SqlLimit, TestContext.Current.CancellationToken);
        Assert.Equal(returned, rows.Count);
        if (sku == FilledOrdersDatabase.SkuWithoutOrders) Assert.Empty(rows);
        if (sku is null && after is null) Assert.Equal(SqlLimit, rows.Count);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData(OrderStatus.Failed, null)]
    [InlineData(OrderStatus.Pending, null)]
    [InlineData(null, FilledOrdersDatabase.BusySku)]
    [InlineData(OrderStatus.Failed, FilledOrdersDatabase.BusySku)]
    [InlineData(OrderStatus.Confirmed, FilledOrdersDatabase.BusySku)]
    [InlineData(OrderStatus.Pending, "PLAN-101")]
    [InlineData(OrderStatus.Cancelled, null)]
    [InlineData(OrderStatus.Cancelled, FilledOrdersDatabase.MultiLineSku)]
    [InlineData(null, FilledOrdersDatabase.MultiLineSku)]
    [InlineData(null, FilledOrdersDatabase.SkuWithoutOrders)]
    public async Task PagingThroughAFilterGivesExactlyTheOrderedMatches(string? status, string? sku)
    {
        var ct = TestContext.Current.CancellationToken;
        // The unfiltered list and the PENDING one are long: compare the first few hundred of them.
        const int pageSize = 37, maxPages = 12;
        var expected = new List<Guid>();
        await using (var reference = data.Db.CreateCommand(
            """
            SELECT order_id FROM orders WHERE ($1::text IS NULL OR status = $1)
              AND ($2::text IS NULL OR item_sku = $2 OR EXISTS (SELECT FROM order_lines l WHERE l.order_id = orders.order_id AND l.item_sku = $2))
            ORDER BY created_at DESC, order_id DESC LIMIT $3
            """))
        {
            reference.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)status ?? DBNull.Value });
            reference.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)sku ?? DBNull.Value });
            reference.Parameters.Add(new NpgsqlParameter<int> { TypedValue = pageSize * maxPages });
            await using var reader = await reference.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) expected.Add(reader.GetGuid(0));
        }

        // As the API pages: ask for one more row than the page; the page's last row is the next cursor.
        var seen = new List<Guid>();
        (DateTime, Guid)? after = null;
        for (var page = 0; page < maxPages; page++)
        {
            var rows = await data.Store.ListAsync(status, sku, after, pageSize + 1, ct);
            seen.AddRange(rows.Take(pageSize).Select(r => r.OrderId));
            if (rows.Count <= pageSize) break;
            after = (rows[pageSize - 1].CreatedAt, rows[pageSize - 1].OrderId);
        }
        Assert.Equal(expected, seen);
        Assert.Equal(sku == FilledOrdersDatabase.SkuWithoutOrders, expected.Count == 0);
    }

    /// <summary>
    /// The coalesced confirm (the hot path's second write) also moves a multi-line order's lines to CONFIRMED: on a table
    /// of thousands of lines that must be a look-up by order id, never a scan, with parameter values or without.
    /// </summary>
    [Fact]
    public async Task The_confirm_reaches_lines_and_orders_by_key_never_by_a_scan()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await data.Db.OpenConnectionAsync(ct);
        Guid[] ids = [Guid.NewGuid(), Guid.NewGuid()];
        var plans = new List<JsonObject>();
        await using (var custom = new NpgsqlCommand("EXPLAIN (FORMAT JSON) " + OrderStore.ConfirmGroupSql, connection))
        {
            custom.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = ids });
            custom.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = ids });
            plans.Add(JsonNode.Parse((string)(await custom.ExecuteScalarAsync(ct))!)![0]!["Plan"]!.AsObject());
        }
        var array = $"'{{{string.Join(",", ids)}}}'";
        foreach (var sql in new[] { "SET plan_cache_mode = force_generic_plan", $"PREPARE confirm_group (uuid[], uuid[]) AS {OrderStore.ConfirmGroupSql}" })
        {
            await using var setup = new NpgsqlCommand(sql, connection);
            await setup.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using var generic = new NpgsqlCommand($"EXPLAIN (FORMAT JSON) EXECUTE confirm_group ({array}, {array})", connection);
            plans.Add(JsonNode.Parse((string)(await generic.ExecuteScalarAsync(ct))!)![0]!["Plan"]!.AsObject());
        }
        finally
        {
            await using var reset = new NpgsqlCommand("DEALLOCATE confirm_group; RESET plan_cache_mode", connection);
            await reset.ExecuteNonQueryAsync(ct);
        }

        foreach (var plan in plans)
        {
            var nodes = Nodes(plan).ToList();
            Assert.DoesNotContain(nodes, n => n["Node Type"]!.GetValue<string>() == "Seq Scan");
            // Every index read looks rows up by order id (orders_pkey, order_lines_pkey).
            var lookups = nodes.Where(n => n["Index Name"] is not null).ToList();
            Assert.NotEmpty(lookups);
            Assert.All(lookups, n => Assert.Contains("order_id = ", n["Index Cond"]?.GetValue<string>() ?? "", StringComparison.Ordinal));
            Assert.All(lookups, n => Assert.EndsWith("_pkey", n["Index Name"]!.GetValue<string>(), StringComparison.Ordinal));
        }
    }

    /// <summary>No cursor, the cursor of the first page (its 50th row), or one from the middle of the table.</summary>
    private async Task<(DateTime CreatedAt, Guid OrderId)?> CursorAsync(string? status, string? sku, string kind)
    {
        if (kind == "first page") return null;
        if (kind == "second page")
        {
            var first = await data.Store.ListAsync(status, sku, null, SqlLimit, TestContext.Current.CancellationToken);
            if (first.Count == SqlLimit) return (first[PageSize - 1].CreatedAt, first[PageSize - 1].OrderId);
            // No second page: a cursor just past the newest row still has to seek, not walk.
            return (new DateTime(2027, 1, 1, 0, 0, 0, DateTimeKind.Utc), Guid.Empty);
        }
        var middle = await data.Store.GetByKeyAsync($"plan-{FilledOrdersDatabase.Rows / 2}", TestContext.Current.CancellationToken);
        return (middle!.CreatedAt, middle.OrderId);
    }

    /// <summary>The top plan node of the statement under EXPLAIN (ANALYZE, BUFFERS), as planned for these values or generically.</summary>
    private async Task<JsonObject> ExplainAsync(string sql, NpgsqlParameter[] parameters, bool generic)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var connection = await data.Db.OpenConnectionAsync(ct);
        string explained;
        if (generic)
        {
            var types = parameters.Select(p => p.NpgsqlDbType switch
            {
                NpgsqlTypes.NpgsqlDbType.Integer => "integer", NpgsqlTypes.NpgsqlDbType.Text => "text",
                NpgsqlTypes.NpgsqlDbType.TimestampTz => "timestamptz", NpgsqlTypes.NpgsqlDbType.Uuid => "uuid",
                var other => throw new InvalidOperationException($"No SQL type for {other}"),
            });
            await using (var mode = new NpgsqlCommand("SET plan_cache_mode = force_generic_plan", connection))
                await mode.ExecuteNonQueryAsync(ct);
            await using (var prepare = new NpgsqlCommand($"PREPARE list_page ({string.Join(", ", types)}) AS {sql}", connection))
                await prepare.ExecuteNonQueryAsync(ct);
            // EXECUTE under EXPLAIN takes no bound parameters: the values go in as literals.
            explained = $"EXECUTE list_page ({string.Join(", ", parameters.Select(Literal))})";
            parameters = [];
        }
        else explained = sql;

        try
        {
            await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + explained, connection);
            explain.Parameters.AddRange(parameters);
            var result = JsonNode.Parse((string)(await explain.ExecuteScalarAsync(ct))!)!;
            return result[0]!["Plan"]!.AsObject();
        }
        finally
        {
            if (generic)
            {
                await using (var deallocate = new NpgsqlCommand("DEALLOCATE list_page", connection))
                    await deallocate.ExecuteNonQueryAsync(ct);
                await using (var reset = new NpgsqlCommand("RESET plan_cache_mode", connection))
                    await reset.ExecuteNonQueryAsync(ct);
            }
        }
    }

    private static string Literal(NpgsqlParameter parameter) => parameter.Value switch
    {
        int number => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        string text => $"'{text.Replace("'", "''")}'",
        DateTime time => $"'{time.ToUniversalTime():yyyy-MM-dd HH:mm:ss.ffffff}Z'",
        Guid id => $"'{id}'",
        var other => throw new InvalidOperationException($"No literal for {other}"),
    };

    private static IEnumerable<JsonObject> Nodes(JsonObject node)
    {
        yield return node;
        foreach (var child in node["Plans"]?.AsArray() ?? [])
            foreach (var descendant in Nodes(child!.AsObject()))
                yield return descendant;
    }

    private static long Number(JsonObject node, string name) => node[name]?.GetValue<long>() ?? 0;
}
