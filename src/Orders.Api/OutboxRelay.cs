using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Orders.Api;

/// <summary>
/// Publishes the outbox (migration 0008) to the broker, at least once and in sequence order per order. Every replica runs
/// it; one leads: the one whose own connection holds the leader lock (<see cref="OutboxStore.TryLeadAsync"/>). The leader
/// reads a batch of unsent rows in position order, publishes their events with confirms, marks sent only the rows whose
/// events were all confirmed in an unbroken run from the batch's start, and goes on at once while there is backlog.
/// Losing its connection loses the lock (its session ends), and another replica, or this one once reconnected, takes over
/// from what is still unsent: events published but not marked are published again, which consumers dedupe by id.
/// The broker being down only stops this loop (it backs off and retries); orders go on and wait here.
/// Every replica also counts the backlog for the gauges (<see cref="OutboxGauges"/>).
/// </summary>
public sealed class OutboxRelay(EventPublishing publishing, OutboxStore store, EventPublisher publisher, OutboxGauges gauges,
    IOptions<EventsOptions> options, ILogger<OutboxRelay> logger) : BackgroundService
{
    private readonly EventsOptions _options = options.Value;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        publishing.Enabled ? Task.WhenAll(LeadAsync(stoppingToken), CountBacklogAsync(stoppingToken)) : Task.CompletedTask;

    private async Task LeadAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = store.CreateLeaderConnection();
                await connection.OpenAsync(stoppingToken);
                failures = 0;
                while (!await OutboxStore.TryLeadAsync(connection, stoppingToken))
                    await Task.Delay(_options.LeaderRetryInterval, stoppingToken);
                logger.LogInformation("This replica relays the outbox to the broker now");
                await RelayAsync(connection, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Our database connection (and with it the lead, if we had it) is gone: whoever gets the lock next goes on.
                failures++;
                logger.LogWarning(e, "Outbox relay lost its database connection; connecting again in {Delay}", _options.Backoff(failures));
                if (!await DelayAsync(_options.Backoff(failures), stoppingToken)) return;
            }
        }
    }

    /// <summary>The leader's loop, on the connection that holds the lock; it ends only by an exception (or shutdown).</summary>
    private async Task RelayAsync(NpgsqlConnection connection, CancellationToken stoppingToken)
    {
        var nextPrune = DateTime.UtcNow;
        var brokerFailures = 0;
        while (true)
        {
            if (DateTime.UtcNow >= nextPrune)
            {
                await PruneAsync(connection, stoppingToken);
                nextPrune = DateTime.UtcNow + _options.PruneInterval;
            }

            var (rows, events) = await OutboxStore.ReadBatchAsync(connection, _options.BatchSize, stoppingToken);
            if (rows == 0)
            {
                await Task.Delay(_options.PollInterval, stoppingToken);
                continue;
            }

            var (confirmed, failure) = await publisher.PublishAsync(events, stoppingToken);
            var sent = SentPositions(events, confirmed);
            if (sent.Length > 0) await OutboxStore.MarkSentAsync(connection, sent, stoppingToken);
            if (failure is not null)
            {
                brokerFailures++;
                var delay = _options.Backoff(brokerFailures);
                // The first failure of an outage with its exception; the retries that follow, briefly.
                if (brokerFailures == 1)
                    logger.LogWarning(failure, "Publishing to the broker failed ({Confirmed} of {Count} events confirmed); events wait in the outbox, retrying in {Delay}",
                        confirmed, events.Count, delay);
                else
                    logger.LogWarning("Publishing to the broker failed again ({Message}); retry {Attempt} in {Delay}", failure.Message, brokerFailures, delay);
                await Task.Delay(delay, stoppingToken);
                continue;
            }
            if (brokerFailures > 0) logger.LogInformation("Publishing to the broker again after {Failures} failed attempts", brokerFailures);
            brokerFailures = 0;
            // A full batch means more may be waiting: go again at once.
            if (rows < _options.BatchSize) await Task.Delay(_options.PollInterval, stoppingToken);
        }
    }

    /// <summary>
    /// The rows all of whose events are among the first <paramref name="confirmed"/> (events come grouped by row, in
    /// position order): a row after an unconfirmed event is never marked, nor a row only partly confirmed.
    /// </summary>
    internal static long[] SentPositions(IReadOnlyList<OutboxEvent> events, int confirmed)
    {
        var sent = new List<long>();
        for (var i = 0; i < confirmed; i++)
            if (i + 1 == events.Count || events[i + 1].Position != events[i].Position)
                sent.Add(events[i].Position); // its row's last event, and within the prefix
        return [.. sent];
    }

    /// <summary>
    /// Deletes sent rows past the retention in bounded batches, each its own statement, oldest first, until a batch finds
    /// nothing to delete (the rows after it are younger) or the table ends.
    /// </summary>
    private async Task PruneAsync(NpgsqlConnection connection, CancellationToken stoppingToken)
    {
        var (total, after) = (0, 0L);
        while (true)
        {
            var (deleted, seen, last) = await OutboxStore.PruneAsync(connection, _options.Retention, _options.PruneBatchSize, after, stoppingToken);
            total += deleted;
            after = last;
            if (deleted == 0 || seen < _options.PruneBatchSize) break;
        }
        if (total > 0) logger.LogDebug("Pruned {Count} sent outbox rows older than {Retention}", total, _options.Retention);
    }

    private async Task CountBacklogAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                gauges.Update(await store.BacklogAsync(stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Our database being down: the gauges keep their last value until the next count works.
                logger.LogDebug(e, "Counting the outbox backlog failed");
            }
            if (!await DelayAsync(_options.GaugeInterval, stoppingToken)) return;
        }
    }

    private static async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try { await Task.Delay(delay, stoppingToken); return true; }
        catch (OperationCanceledException) { return false; }
    }
}

/// <summary>
/// The outbox backlog as this replica last counted it: events not yet confirmed by the broker, and the age of the oldest.
/// Gauges <c>oms.outbox.backlog</c> and <c>oms.outbox.oldest_age</c> (s) on /metrics, only while publishing is on.
/// </summary>
public sealed class OutboxGauges
{
    private long _events;
    private double _oldestSeconds;

    public OutboxGauges(IMeterFactory meters, EventPublishing publishing)
    {
        if (!publishing.Enabled) return;
        // From the host's factory: the gauges live and die with this service provider.
        var meter = meters.Create("Oms.Orders.Outbox");
        meter.CreateObservableGauge("oms.outbox.backlog", () => Interlocked.Read(ref _events),
            description: "Order events committed and not yet confirmed by the broker (they wait in the outbox)");
        meter.CreateObservableGauge("oms.outbox.oldest_age", () => Volatile.Read(ref _oldestSeconds), unit: "s",
            description: "How long the oldest of them has waited (0 when none)");
    }

    public long Backlog => Interlocked.Read(ref _events);

    public double OldestAgeSeconds => Volatile.Read(ref _oldestSeconds);

    public void Update((long Events, TimeSpan OldestAge) counted)
    {
        Interlocked.Exchange(ref _events, counted.Events);
        Volatile.Write(ref _oldestSeconds, counted.Events == 0 ? 0 : counted.OldestAge.TotalSeconds);
    }
}

/// <summary>
/// <c>events-broker</c>: whether the broker takes our events. Registered with failure status Degraded, so /health/ready
/// stays up while it is down (orders go on; their events wait in the outbox).
/// </summary>
public sealed class EventsBrokerHealthCheck(EventPublishing publishing, EventPublisher publisher, OutboxGauges gauges) : IHealthCheck
{
    public const string Name = "events-broker";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!publishing.Enabled) return HealthCheckResult.Healthy("Publishing is off (no ConnectionStrings:events).");
        // The relaying replica's open channel says enough; another replica (or the relay between attempts) asks the broker.
        if (publisher.IsOpen) return HealthCheckResult.Healthy("Publishing.");
        try
        {
            await publisher.ProbeAsync(cancellationToken);
            return HealthCheckResult.Healthy("The broker takes connections.");
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The message only: the relay logs the failure once per outage; a report per probe need not log a stack trace.
            return new HealthCheckResult(context.Registration.FailureStatus,
                $"The broker is unreachable ({e.Message}); {gauges.Backlog} event(s) wait in the outbox as last counted.");
        }
    }
}
