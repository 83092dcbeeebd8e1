using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>
/// Whether order events are published to other systems, and to which broker: <c>ConnectionStrings:events</c>, an AMQP URI
/// (<c>amqp://user:pass@host:port/vhost</c>). Empty or absent: publishing is off, no outbox rows are written and no relay runs.
/// </summary>
public sealed class EventPublishing(string? brokerUri)
{
    /// <summary>The connection string's name: <c>ConnectionStrings:events</c>.</summary>
    public const string ConnectionName = "events";

    public string? BrokerUri { get; } = string.IsNullOrWhiteSpace(brokerUri) ? null : brokerUri.Trim();

    public bool Enabled => BrokerUri is not null;
}

/// <summary>The outbox relay (section <c>Events</c>); used only while publishing is on.</summary>
public sealed class EventsOptions
{
    public const string Section = "Events";

    /// <summary>Outbox rows read and published per round (one row per transition: up to three events, a confirm's).</summary>
    [Range(1, 10_000)] public int BatchSize { get; set; } = 500;

    /// <summary>How long the relay waits before looking again once it has found the outbox empty (it goes on at once while there is backlog).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often a replica that is not relaying tries to take over (the relaying replica's session ends when it dies).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan LeaderRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long sent outbox rows are kept before they are pruned (the timeline, order_events, is never pruned).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often the relaying replica prunes.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan PruneInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Rows one prune statement looks at, the oldest first, deleting those sent before the retention (each its own short transaction).</summary>
    [Range(1, 100_000)] public int PruneBatchSize { get; set; } = 5_000;

    /// <summary>How long a published batch may wait for the broker's confirms before the connection is dropped and the batch retried.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long connecting to the broker may take (the relay's and the health check's).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Wait after the first failure to reach the broker (or the relay's database connection); it doubles with each failure in a row.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between two attempts.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often every replica counts the backlog for the oms.outbox.* gauges.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan GaugeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the next attempt after <paramref name="failures"/> failures in a row (at least one).</summary>
    public TimeSpan Backoff(int failures) =>
        TimeSpan.FromTicks((long)Math.Min(MaxReconnectDelay.Ticks, ReconnectDelay.Ticks * Math.Pow(2, Math.Min(failures - 1, 30))));
}

/// <summary>What the attributes cannot say: the backoff's bounds in order, and a broker URI the client can use.</summary>
public sealed class EventsOptionsValidation(EventPublishing publishing) : IValidateOptions<EventsOptions>
{
    public ValidateOptionsResult Validate(string? name, EventsOptions options)
    {
        var failures = new List<string>();
        if (options.MaxReconnectDelay < options.ReconnectDelay)
            failures.Add($"Events:MaxReconnectDelay ({options.MaxReconnectDelay}) must be at least Events:ReconnectDelay ({options.ReconnectDelay}).");
        if (publishing.BrokerUri is { } uri
            && !(Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme is "amqp" or "amqps" && parsed.Host.Length > 0))
            failures.Add($"ConnectionStrings:{EventPublishing.ConnectionName} must be an AMQP URI (amqp://user:pass@host:port/vhost), or empty to publish nothing.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
