namespace Oms.Chaos;

/// <summary>What one chaos run does. Every count and wait is bounded.</summary>
public sealed record ChaosOptions
{
    /// <summary>Distinct orders (idempotency keys) to place.</summary>
    public int Orders { get; init; } = 2000;

    /// <summary>SIGKILL + restart cycles, spread over the stream, over the processes (every replica) in turn.</summary>
    public int Kills { get; init; } = 12;

    /// <summary>Orders in flight at once.</summary>
    public int Concurrency { get; init; } = 32;

    /// <summary>
    /// Most lines in one order. Half of the orders have one line (the seed's form, some as a one-line <c>items</c>), the
    /// others 2..LinesMax lines over distinct SKUs, so baskets overlap and compete for the same rows. 1 = one-line orders only.
    /// </summary>
    public int LinesMax { get; init; } = 5;

    /// <summary>The contract's most lines in one order.</summary>
    public const int MaxLines = 50;

    /// <summary>
    /// Share of the orders (0–1) that are also cancelled: half of them once an answer names the order (mostly CONFIRMED,
    /// PENDING after a 202, or FAILED: 409), half while the placing request still runs (mostly PENDING). 0 = no cancels.
    /// </summary>
    public double CancelShare { get; init; } = 0.2;

    /// <summary>Seed of every random choice (payloads, kill moments, down times); null = random.</summary>
    public int? Seed { get; init; }

    /// <summary>The order service's recovery give-up deadline (Recovery:GiveUpAfter).</summary>
    public TimeSpan GiveUp { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long to wait, after the stream, for no order to be PENDING.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Client timeout of one HTTP request.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest a killed process stays down before it is restarted.</summary>
    public TimeSpan MaxDownTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How many of the inventory/payment kills take the whole service (both replicas) down past the give-up deadline, so
    /// that PENDING orders are compensated (void, release) and FAILED *_UNAVAILABLE while everything else goes on.
    /// </summary>
    public int LongOutages { get; init; } = 2;

    /// <summary>
    /// Hard limit on the order stream (kills included); past it no new order is started. Each kill waits for its restart,
    /// and with six service replicas in the rotation 30 kills take 10–25 min on a busy 2-core machine.
    /// </summary>
    public TimeSpan StreamLimit { get; init; } = TimeSpan.FromMinutes(40);

    /// <summary>Build configuration whose service dlls are started (default: the one this runner was built with).</summary>
    public string? Configuration { get; init; }

    /// <summary>Folder for the child processes' logs (default: a new temp folder).</summary>
    public string? LogDirectory { get; init; }

    /// <summary>
    /// When set, the services are configured with this API key (every scope) and every request carries it:
    /// the system under chaos with API keys on. Null = the public endpoints open.
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// Run a RabbitMQ node (from the machine's binaries): the order replicas publish their events to it, it is SIGKILLed in
    /// turn with the other processes, a consumer reads <c>oms.events</c> for the whole run, and after the drain the outbox
    /// must empty and every event of every timeline must have been delivered, first deliveries in sequence order per order.
    /// False = publishing off (no broker configured).
    /// </summary>
    public bool Broker { get; init; } = true;

    /// <summary>How long to wait, after the drain, for the outbox to empty and the consumer to have every event.</summary>
    public TimeSpan OutboxTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Progress lines go here (null = quiet).</summary>
    public TextWriter? Log { get; init; }
}
