using System.Globalization;
using System.Text.RegularExpressions;

namespace Oms.Chaos;

/// <summary>The figures of one chaos run.</summary>
public sealed class ChaosResult
{
    public int Seed { get; init; }
    public int OrdersPlanned { get; init; }
    public int OrdersSent { get; set; }
    public int Requests { get; set; }
    public SortedDictionary<string, int> ResponsesByOutcome { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, int> KillsByProcess { get; } = new(StringComparer.Ordinal);
    /// <summary>Requests each service replica served over the run: order requests (orders-*), the saga's calls (inventory-*, payment-*).</summary>
    public SortedDictionary<string, long> ServedByReplica { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, int> OrdersByOutcome { get; } = new(StringComparer.Ordinal);
    public SortedDictionary<int, int> OrdersByLineCount { get; } = new();
    public SortedDictionary<string, int> CancelsByOutcome { get; } = new(StringComparer.Ordinal);
    public int CancelsPlanned { get; set; }
    public int TimelineEvents { get; set; }
    /// <summary>Whether a broker ran: then the deliveries below are checked and the outbox must drain.</summary>
    public bool Broker { get; init; }
    public int EventDeliveries { get; set; }
    public int EventsDelivered { get; set; }
    public int DuplicateDeliveries { get; set; }
    /// <summary>Events still waiting in the outbox once the wait for it ran out (0 = drained); -1 = not measured.</summary>
    public long OutboxBacklog { get; set; } = -1;
    public TimeSpan OutboxDrainTime { get; set; }
    public List<string> Violations { get; } = [];
    public List<string> UnexpectedErrors { get; } = [];
    public int Unexpected5xx { get; set; }
    public int UnexpectedProcessExits { get; set; }
    public int PendingAfterDrain { get; set; } = -1;
    public TimeSpan StreamTime { get; set; }
    public TimeSpan DrainTime { get; set; }
    public TimeSpan TotalTime { get; set; }
    public string LogDirectory { get; init; } = "";
    public string? Aborted { get; set; }

    public bool Success => Aborted is null && Violations.Count == 0 && PendingAfterDrain == 0 && Unexpected5xx == 0
                           && UnexpectedErrors.Count == 0 && UnexpectedProcessExits == 0
                           && (!Broker || OutboxBacklog == 0);

    /// <summary>An error message without what varies between occurrences (keys, ids, replicas, trace ids, body details).</summary>
    public static string ErrorKind(string message)
    {
        var kind = Regex.Replace(message, @"chaos-\d+-\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|replica \d", "*");
        var body = kind.IndexOf(": {", StringComparison.Ordinal);
        // The body's code says what kind of problem it was; the rest of it (detail, trace id) varies.
        var code = Regex.Match(kind, "\"code\":\"([a-z_]+)\"");
        return (body < 0 ? kind : kind[..body]) + (code.Success ? " " + code.Groups[1].Value : "");
    }

    public void Print(TextWriter w)
    {
        static string Join(IEnumerable<KeyValuePair<string, int>> d) =>
            string.Join(", ", d.Select(kv => $"{kv.Key}={kv.Value.ToString(CultureInfo.InvariantCulture)}"));

        w.WriteLine();
        w.WriteLine("==== chaos run ====");
        w.WriteLine($"seed                   {Seed}");
        w.WriteLine($"orders sent            {OrdersSent} of {OrdersPlanned} (distinct idempotency keys), {Requests} requests");
        w.WriteLine($"responses              {Join(ResponsesByOutcome)}");
        w.WriteLine($"kills (SIGKILL)        {Join(KillsByProcess)} (total {KillsByProcess.Values.Sum()})");
        w.WriteLine($"served by replica      {string.Join(", ", ServedByReplica.Select(kv => $"{kv.Key}={kv.Value.ToString(CultureInfo.InvariantCulture)}"))}");
        w.WriteLine($"cancel responses       {Join(CancelsByOutcome)} ({CancelsPlanned} orders planned to be cancelled)");
        w.WriteLine($"orders in the database {Join(OrdersByOutcome)}");
        w.WriteLine($"orders by line count   {Join(OrdersByLineCount.Select(kv => KeyValuePair.Create(kv.Key.ToString(CultureInfo.InvariantCulture), kv.Value)))}");
        w.WriteLine($"timeline events        {TimelineEvents}");
        if (Broker)
        {
            w.WriteLine($"events delivered       {EventsDelivered} of {TimelineEvents} timeline events ({EventDeliveries} deliveries, {DuplicateDeliveries} duplicates)");
            w.WriteLine($"outbox backlog         {OutboxBacklog} events after {OutboxDrainTime.TotalSeconds:0.0} s (waiting for the relay after the drain)");
        }
        w.WriteLine($"stream time            {StreamTime.TotalSeconds:0.0} s");
        w.WriteLine($"time to drain          {DrainTime.TotalSeconds:0.0} s (no order PENDING, no cancel unfinished)");
        w.WriteLine($"orders still PENDING   {PendingAfterDrain}");
        w.WriteLine($"unexpected 5xx         {Unexpected5xx}");
        w.WriteLine($"unexpected errors      {UnexpectedErrors.Count}");
        // One line per kind (with its count and a first example), so that one frequent kind does not hide the others.
        foreach (var kind in UnexpectedErrors.GroupBy(ErrorKind).OrderByDescending(g => g.Count()).Take(20))
            w.WriteLine($"  - {kind.Count()} x {kind.First()}");
        w.WriteLine($"unexpected exits       {UnexpectedProcessExits} (service processes that died without being killed)");
        w.WriteLine($"invariant violations = {Violations.Count}");
        foreach (var v in Violations.Take(50)) w.WriteLine($"  - {v}");
        if (Violations.Count > 50) w.WriteLine($"  … and {Violations.Count - 50} more");
        if (Aborted is not null) w.WriteLine($"ABORTED: {Aborted}");
        w.WriteLine($"total time             {TotalTime.TotalSeconds:0.0} s");
        w.WriteLine($"process logs           {LogDirectory}");
        w.WriteLine(Success ? "RESULT: PASS" : "RESULT: FAIL");
    }
}
