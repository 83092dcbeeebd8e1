using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>Where the saga's dependencies are and how long a request may spend on them.</summary>
public sealed class SagaOptions
{
    /// <summary>
    /// The inventory service: a URL (http://inventory-host:9002), or a service name (http://inventory) whose replicas
    /// are listed under <c>Services:inventory:http</c> (0, 1, …): each call goes to the next one (round-robin) and a failed
    /// attempt is retried on another. A host no <c>Services</c> entry names is used as it is.
    /// </summary>
    [Required, Url] public string InventoryUrl { get; set; } = "";

    /// <summary>The payment service, as <see cref="InventoryUrl"/> (<c>Services:payment:http</c> for a service name <c>http://payment</c>).</summary>
    [Required, Url] public string PaymentUrl { get; set; } = "";

    /// <summary>
    /// Talk HTTP/2 cleartext (prior knowledge) to inventory and payments: one multiplexed connection instead of
    /// one socket per request in flight (+30 % orders/s, docs/benchmarks.md). Their URLs must then be their
    /// internal endpoints (<c>InternalUrls</c>, HTTP/2 only); false talks HTTP/1.1 to their public endpoints.
    /// </summary>
    public bool Http2 { get; set; } = true;

    /// <summary>Time a client request may spend on the saga before it answers 202 with a PENDING order.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:05:00")]
    public TimeSpan RequestBudget { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time one downstream HTTP attempt may take before it is retried.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Retries of one downstream call after its first attempt (exponential backoff with jitter, within the budget).</summary>
    [Range(0, 100)] public int RetryAttempts { get; set; } = 6;

    /// <summary>Wait before the first retry; it doubles with each one.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Failure ratio over the sampling window at which the circuit to a dependency opens.</summary>
    [Range(0.01, 1.0)] public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls the sampling window must hold before the breaker judges the ratio.</summary>
    [Range(2, 100_000)] public int BreakerMinimumThroughput { get; set; } = 20;

    /// <summary>
    /// Window the failure ratio is measured over; it is widened to two attempt timeouts when shorter, so that a timed-out
    /// attempt is counted inside the window it started in.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open circuit refuses calls before it lets one through to test the dependency.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Lease a request holds on its order; past it the recovery worker may take over (a crashed request).</summary>
    public TimeSpan RequestLease => RequestBudget + TimeSpan.FromSeconds(5);
}

/// <summary>The recovery worker that finishes PENDING orders left by slow dependencies or crashes.</summary>
public sealed class RecoveryOptions
{
    public bool Enabled { get; set; } = true;

    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the worker's lease on a claimed order lasts (longer than one attempt).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time budget of one recovery attempt of one order.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:05:00")]
    public TimeSpan AttemptBudget { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Past this age a PENDING order is compensated and FAILED with *_UNAVAILABLE.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Longest wait between two attempts on one order (the backoff doubles up to this).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);

    [Range(1, 1000)] public int BatchSize { get; set; } = 32;

    /// <summary>Orders of one batch recovered at once.</summary>
    [Range(1, 256)] public int Parallelism { get; set; } = 8;

    /// <summary>
    /// The longest one batch may take: its orders run <see cref="Parallelism"/> at a time, each within
    /// <see cref="AttemptBudget"/>, plus one budget more for the database writes around them.
    /// </summary>
    public TimeSpan LongestBatch => AttemptBudget * ((BatchSize + Parallelism - 1) / Parallelism + 1);
}

/// <summary>
/// Every order of a batch is claimed at once, so the last to run must still hold its lease when it runs: a lease
/// shorter than a batch would let another replica take orders this one is about to work on.
/// </summary>
public sealed class RecoveryOptionsValidation : IValidateOptions<RecoveryOptions>
{
    public ValidateOptionsResult Validate(string? name, RecoveryOptions options) =>
        options.Lease >= options.LongestBatch
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"Recovery:Lease ({options.Lease}) must be at least the longest a recovery batch can take, {options.LongestBatch}: " +
                $"ceil(BatchSize {options.BatchSize} / Parallelism {options.Parallelism}) + 1 attempts of Recovery:AttemptBudget " +
                $"({options.AttemptBudget}). Raise the lease, or lower BatchSize or AttemptBudget.");
}
