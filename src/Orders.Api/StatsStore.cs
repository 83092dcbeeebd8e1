using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Orders.Api;

/// <summary>
/// The figures of GET /api/v1/orders/stats: orders created per minute over the last hour by current status, failures by
/// reason over that hour, and the PENDING orders now. Every count walks the per-status partial indexes of 0002/0006 over
/// one created_at range (index-only for all but FAILED, whose reason is read from the few FAILED rows), so it costs the
/// last hour's orders, never the table; no index of its own, so nothing more per insert.
/// </summary>
public sealed class StatsStore(NpgsqlDataSource db)
{
    public const int WindowMinutes = 60;

    // date_bin, not date_trunc: minutes in UTC whatever the session's time zone.
    private const string MinuteOf = "date_bin('1 minute', {0}, timestamptz '2000-01-01 00:00:00+00')";
    private static readonly string WindowStart = string.Format(MinuteOf, "now()") + $" - interval '{WindowMinutes - 1} minutes'";

    internal static readonly string WindowSql = $"SELECT {WindowStart}, now()";

    /// <summary>
    /// One branch per status, each naming its status as a literal so that it reads that status's own partial index over
    /// created_at (there is no index over created_at for every status: 0002 dropped it).
    /// </summary>
    internal static readonly string CountsSql = string.Join("\nUNION ALL\n",
        OrderStatus.All.Select(status =>
            $"SELECT {string.Format(MinuteOf, "created_at")}, '{status}', {(status == OrderStatus.Failed ? "failure_reason" : "NULL::text")}, count(*) " +
            $"FROM orders WHERE status = '{status}' AND created_at >= {WindowStart} GROUP BY 1, 3"));

    // orders_pending_newest: as many entries as there are PENDING orders, few unless something is stuck.
    internal const string PendingSql = "SELECT count(*), now() - min(created_at) FROM orders WHERE status = 'PENDING'";

    /// <summary>The window's figures, all read at one instant (a batch is one implicit transaction: one now()).</summary>
    public async Task<OrderStatsRow> ReadAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new NpgsqlBatchCommand(WindowSql), new NpgsqlBatchCommand(CountsSql), new NpgsqlBatchCommand(PendingSql) },
        };
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var since = reader.GetFieldValue<DateTime>(0);
        var now = reader.GetFieldValue<DateTime>(1);

        await reader.NextResultAsync(ct);
        var counts = new List<(DateTime Minute, string Status, string? Reason, long Count)>();
        while (await reader.ReadAsync(ct))
            counts.Add((reader.GetFieldValue<DateTime>(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(3)));

        await reader.NextResultAsync(ct);
        await reader.ReadAsync(ct);
        var pending = reader.GetInt64(0);
        TimeSpan? oldestPending = reader.IsDBNull(1) ? null : reader.GetFieldValue<TimeSpan>(1);
        return new OrderStatsRow(since, now, counts, pending, oldestPending);
    }
}

public sealed record OrderStatsRow(
    DateTime WindowStart,
    DateTime Now,
    IReadOnlyList<(DateTime Minute, string Status, string? Reason, long Count)> Counts,
    long Pending,
    TimeSpan? OldestPending);

/// <summary>Section <c>Stats</c>: GET /api/v1/orders/stats.</summary>
public sealed class StatsOptions
{
    public const string Section = "Stats";

    /// <summary>
    /// How long a computed answer is served before the next request computes it again: many consoles refreshing at once
    /// then cost one query per period, not one each. Zero computes every request.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan CacheFor { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// The stats answer, computed at most once per <see cref="StatsOptions.CacheFor"/>: the requests that arrive while it is
/// fresh, or while it is being computed, share it. A failed computation is not kept: the next request tries again.
/// </summary>
public sealed class OrderStats(StatsStore store, EventPublishing publishing, OutboxGauges gauges, IOptions<StatsOptions> options)
{
    private readonly Lock _gate = new();
    private Task<OrderStatsResponse>? _current;
    private long _startedAt;

    public Task<OrderStatsResponse> GetAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_current is null || _current.IsFaulted || _current.IsCanceled || Stopwatch.GetElapsedTime(_startedAt) >= options.Value.CacheFor)
            {
                _startedAt = Stopwatch.GetTimestamp();
                // Not the request's token: other requests wait on this computation too.
                _current = ComputeAsync();
            }
            return _current.WaitAsync(ct);
        }
    }

    private async Task<OrderStatsResponse> ComputeAsync()
    {
        var outbox = publishing.Enabled ? new OutboxStats(gauges.Backlog, gauges.OldestAgeSeconds) : null;
        var row = await store.ReadAsync(CancellationToken.None);
        return ToResponse(row, outbox);
    }

    internal static OrderStatsResponse ToResponse(OrderStatsRow row, OutboxStats? outbox)
    {
        var minutes = new OrderStatsMinute[StatsStore.WindowMinutes];
        for (var i = 0; i < minutes.Length; i++) minutes[i] = new OrderStatsMinute(row.WindowStart.AddMinutes(i), 0, 0, 0, 0);
        var failures = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (minute, status, reason, count) in row.Counts)
        {
            var i = (int)((minute - row.WindowStart).Ticks / TimeSpan.TicksPerMinute);
            // An order committed with a created_at past our now() (its transaction began later than ours) waits for the next answer.
            if (i is < 0 or >= StatsStore.WindowMinutes) continue;
            var m = minutes[i];
            minutes[i] = status switch
            {
                OrderStatus.Confirmed => m with { Confirmed = m.Confirmed + count },
                OrderStatus.Failed => m with { Failed = m.Failed + count },
                OrderStatus.Cancelled => m with { Cancelled = m.Cancelled + count },
                OrderStatus.Pending => m with { Pending = m.Pending + count },
                _ => m,
            };
            if (reason is not null) failures[reason] = failures.GetValueOrDefault(reason) + count;
        }
        return new OrderStatsResponse(StatsStore.WindowMinutes, row.Now, minutes, failures,
            new PendingStats(row.Pending, row.OldestPending?.TotalSeconds), outbox);
    }
}

public static class StatsSetup
{
    /// <summary>GET /api/v1/orders/stats's store, its cache and options (section <c>Stats</c>). Needs <c>AddOrderEvents</c> for the outbox figures.</summary>
    public static IHostApplicationBuilder AddOrderStats(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<StatsOptions>().BindConfiguration(StatsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<StatsStore>();
        builder.Services.AddSingleton<OrderStats>();
        return builder;
    }
}
