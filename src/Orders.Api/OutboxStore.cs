using Npgsql;

namespace Orders.Api;

/// <summary>One event waiting in the outbox: its outbox row's position and the event as the timeline has it.</summary>
public sealed record OutboxEvent(long Position, Guid EventId, Guid OrderId, int Sequence, string Type, DateTime OccurredAt, string Data);

/// <summary>
/// The relay's queries on the outbox (migration 0008). The relaying replica runs them on its own connection
/// (<see cref="CreateLeaderConnection"/>), the one that holds the leader lock; the backlog count runs on the pool.
/// </summary>
public sealed class OutboxStore(NpgsqlDataSource db)
{
    // Any constant works; it only has to be the same for every replica of the order service (and differ from the migrator's).
    private const long LeaderLockKey = 0x0_4F55_5442_4F58; // "OUTBOX"

    /// <summary>The application_name of the relay's connection (<c>pg_stat_activity</c> shows which session relays).</summary>
    public static string RelayApplicationName(string applicationName) => $"{applicationName} outbox relay";

    /// <summary>
    /// A connection of its own, outside the pool: the leader lock is held by its session, so it must end with this connection
    /// (a pooled one would go back to the pool with the lock still held, and connections there are not reset).
    /// </summary>
    public NpgsqlConnection CreateLeaderConnection()
    {
        var settings = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false, Multiplexing = false };
        settings.ApplicationName = RelayApplicationName(settings.ApplicationName ?? "");
        using var pooled = db.CreateConnection();
        // CloneWith keeps the data source's password, which its ConnectionString leaves out.
        return pooled.CloneWith(settings.ConnectionString);
    }

    /// <summary>Takes the leader lock for this connection's session if no other session holds it; true when this one does.</summary>
    public static async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = LeaderLockKey });
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// The first <paramref name="rows"/> unsent outbox rows, in position order, each with its events in sequence order:
    /// the order they are to be published in. Rows are read through outbox_unsent, events by order_events' primary key.
    /// </summary>
    public static async Task<(int Rows, List<OutboxEvent> Events)> ReadBatchAsync(NpgsqlConnection connection, int rows, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(ReadBatchSql, connection);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = rows });
        var events = new List<OutboxEvent>();
        var read = 0;
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var position = reader.GetInt64(0);
            if (events.Count == 0 || events[^1].Position != position) read++;
            events.Add(new(position, reader.GetGuid(1), reader.GetGuid(2), reader.GetInt32(3), reader.GetString(4),
                reader.GetDateTime(5), reader.GetString(6)));
        }
        return (read, events);
    }

    /// <summary>$1 the rows to read.</summary>
    internal const string ReadBatchSql =
        """
        SELECT x.position, e.event_id, e.order_id, e.sequence, e.type, e.occurred_at, e.data::text
        FROM (SELECT position, order_id, first_sequence, last_sequence FROM outbox
              WHERE sent_at IS NULL ORDER BY position LIMIT $1) AS x
        JOIN order_events e ON e.order_id = x.order_id AND e.sequence BETWEEN x.first_sequence AND x.last_sequence
        ORDER BY x.position, e.sequence
        """;

    /// <summary>Marks these rows sent (their events confirmed by the broker).</summary>
    public static async Task MarkSentAsync(NpgsqlConnection connection, long[] positions, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("UPDATE outbox SET sent_at = now() WHERE position = ANY($1) AND sent_at IS NULL", connection);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = positions });
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Looks at the next <paramref name="limit"/> rows after position <paramref name="after"/> (the primary key's order, which
    /// is about the order they were written and sent in) and deletes those sent longer than <paramref name="retention"/> ago.
    /// Unsent rows are never deleted. Returns how many it deleted, how many it looked at and the last position among them.
    /// Looking at the oldest rows only keeps a prune cheap however many younger sent rows the retention keeps: no scan for
    /// rows to delete, and no index on sent_at for the relay's every mark-sent to maintain.
    /// </summary>
    public static async Task<(int Deleted, int Seen, long Last)> PruneAsync(NpgsqlConnection connection, TimeSpan retention, int limit,
        long after, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(PruneSql, connection);
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = retention });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return ((int)reader.GetInt64(0), (int)reader.GetInt64(1), reader.IsDBNull(2) ? after : reader.GetInt64(2));
    }

    /// <summary>$1 the retention, $2 the rows to look at, $3 the position after which to look.</summary>
    internal const string PruneSql =
        """
        WITH front AS (SELECT position, sent_at FROM outbox WHERE position > $3 ORDER BY position LIMIT $2),
             -- = ANY(ARRAY(...)): a look-up per row by primary key (IN over the CTE was planned as a hash join over the table).
             gone AS (DELETE FROM outbox WHERE position = ANY(ARRAY(SELECT position FROM front WHERE sent_at < now() - $1)) RETURNING 1)
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM front), (SELECT max(position) FROM front)
        """;

    /// <summary>
    /// Events waiting to be published (rows of the outbox, each one transition's events) and how long the oldest has
    /// waited (0 when none). Both read outbox_unsent only.
    /// </summary>
    public async Task<(long Events, TimeSpan OldestAge)> BacklogAsync(CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            """
            SELECT coalesce(sum(last_sequence - first_sequence + 1), 0)::bigint,
                   coalesce(now() - (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY position LIMIT 1), interval '0')
            FROM outbox WHERE sent_at IS NULL
            """);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetTimeSpan(1));
    }
}
