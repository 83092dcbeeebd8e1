using System.Diagnostics;
using HdrHistogram;

namespace Oms.LoadGen;

/// <summary>Latencies in microseconds, from 1 µs to 10 minutes, 3 significant digits.</summary>
public static class Latency
{
    public const long HighestMicros = 600_000_000;

    public static LongHistogram NewHistogram() => new(HighestMicros, 3);

    public static long MicrosSince(long startTimestamp) => MicrosBetween(startTimestamp, Stopwatch.GetTimestamp());

    public static long MicrosBetween(long startTimestamp, long endTimestamp) =>
        Math.Clamp((endTimestamp - startTimestamp) * 1_000_000 / Stopwatch.Frequency, 1, HighestMicros);

    public static LatencySummary Summarize(HistogramBase histogram)
    {
        if (histogram.TotalCount == 0) return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
        static double Ms(long micros) => micros / 1000.0;
        return new LatencySummary(
            histogram.TotalCount,
            Ms(histogram.GetValueAtPercentile(50)),
            Ms(histogram.GetValueAtPercentile(90)),
            Ms(histogram.GetValueAtPercentile(99)),
            Ms(histogram.GetValueAtPercentile(99.9)),
            Ms(histogram.GetMaxValue()),
            Math.Round(histogram.GetMean() / 1000.0, 3));
    }
}

/// <summary>Latency percentiles in milliseconds (microsecond precision).</summary>
public sealed record LatencySummary(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs, double MeanMs);

/// <summary>What one client saw; merged at the end so the hot path shares nothing but two counters.</summary>
public sealed class ClientTally(int skuCount)
{
    public LongHistogram Histogram { get; } = Latency.NewHistogram();
    public Dictionary<int, long> StatusCodes { get; } = [];
    /// <summary>The cancel requests of cancel-kind orders (their latency apart: the order figures stay the placing requests').</summary>
    public LongHistogram CancelHistogram { get; } = Latency.NewHistogram();
    public Dictionary<int, long> CancelStatusCodes { get; } = [];
    public Dictionary<string, long> FinalStatuses { get; } = new(StringComparer.Ordinal);

    /// <summary>Σ quantity of CONFIRMED orders per SKU index.</summary>
    public long[] ConfirmedQuantity { get; } = new long[skuCount];

    public long Errors { get; set; }
    public long Measured { get; set; }

    public void CountStatus(int code) => StatusCodes[code] = StatusCodes.GetValueOrDefault(code) + 1;

    public void CountCancelStatus(int code) => CancelStatusCodes[code] = CancelStatusCodes.GetValueOrDefault(code) + 1;

    public void CountFinal(string key) => FinalStatuses[key] = FinalStatuses.GetValueOrDefault(key) + 1;

    public static ClientTally Merge(IReadOnlyList<ClientTally> tallies, int skuCount)
    {
        var merged = new ClientTally(skuCount);
        foreach (var t in tallies)
        {
            merged.Histogram.Add(t.Histogram);
            foreach (var (code, n) in t.StatusCodes) merged.StatusCodes[code] = merged.StatusCodes.GetValueOrDefault(code) + n;
            merged.CancelHistogram.Add(t.CancelHistogram);
            foreach (var (code, n) in t.CancelStatusCodes) merged.CancelStatusCodes[code] = merged.CancelStatusCodes.GetValueOrDefault(code) + n;
            foreach (var (status, n) in t.FinalStatuses) merged.FinalStatuses[status] = merged.FinalStatuses.GetValueOrDefault(status) + n;
            for (var i = 0; i < skuCount; i++) merged.ConfirmedQuantity[i] += t.ConfirmedQuantity[i];
            merged.Errors += t.Errors;
            merged.Measured += t.Measured;
        }
        return merged;
    }

    /// <summary>The key of a final-status count: CONFIRMED, PENDING, or FAILED:&lt;reason&gt;.</summary>
    public static string FinalKey(string? status, string? failureReason) =>
        status == "FAILED" ? $"FAILED:{failureReason ?? "?"}" : status ?? "?";
}

/// <summary>
/// Completions per whole second since the load started (warmup included), for the cold-start curve: the count, the
/// errors and a coarse histogram (2 significant digits: enough for a per-second p99, small enough for long runs).
/// One lock: a few thousand completions a second do not contend on it next to an HTTP round trip.
/// </summary>
public sealed class PerSecondSeries(double warmupSeconds)
{
    private readonly Lock gate = new();
    private readonly List<(LongHistogram Histogram, long Errors)> seconds = [];

    /// <summary>An order that completed <paramref name="sinceStart"/> after the load started, taking <paramref name="micros"/>.</summary>
    public void Record(TimeSpan sinceStart, long micros)
    {
        lock (gate) Bucket(sinceStart).Histogram.RecordValue(micros);
    }

    public void CountError(TimeSpan sinceStart)
    {
        lock (gate)
        {
            var index = Index(sinceStart);
            Bucket(sinceStart);
            seconds[index] = (seconds[index].Histogram, seconds[index].Errors + 1);
        }
    }

    /// <summary>One point per second up to the last completion; <c>t_s</c> is the end of its second.</summary>
    public IReadOnlyList<SecondPoint> Points()
    {
        lock (gate)
        {
            return seconds.Select((s, i) =>
            {
                var l = Latency.Summarize(s.Histogram);
                return new SecondPoint(i + 1, l.Count, l.Count, l.P50Ms, l.P99Ms, s.Errors, i + 1 <= warmupSeconds);
            }).ToList();
        }
    }

    private static int Index(TimeSpan sinceStart) => (int)Math.Max(0, Math.Floor(sinceStart.TotalSeconds));

    private (LongHistogram Histogram, long Errors) Bucket(TimeSpan sinceStart)
    {
        var index = Index(sinceStart);
        while (seconds.Count <= index) seconds.Add((new LongHistogram(Latency.HighestMicros, 2), 0));
        return seconds[index];
    }
}

/// <summary>One second of a run: completions (= orders/s over that second), their p50/p99, errors; in the warmup or not.</summary>
public sealed record SecondPoint([property: System.Text.Json.Serialization.JsonPropertyName("t_s")] int TS, long Orders, double OrdersPerS, double P50Ms, double P99Ms, long Errors, bool Warmup);

public static class Throughput
{
    /// <summary>Completed orders per second over the measured window; 0 for an empty window.</summary>
    public static double PerSecond(long completed, TimeSpan window) =>
        window <= TimeSpan.Zero ? 0 : Math.Round(completed / window.TotalSeconds, 1);
}

/// <summary>One SKU's books at the end of a run.</summary>
public sealed record SkuBalance(string Sku, long Seeded, long Available, long Confirmed, long PendingQuantity)
{
    /// <summary>Stock gone from the shelf but not accounted for by a CONFIRMED order.</summary>
    public long Unaccounted => Seeded - Available - Confirmed;

    /// <summary>Exact when nothing is pending; otherwise the gap must be stock held by PENDING orders.</summary>
    public bool Holds => PendingQuantity == 0 ? Unaccounted == 0 : Unaccounted >= 0 && Unaccounted <= PendingQuantity;
}

public sealed record ConservationResult(bool Ok, int SkusChecked, long Seeded, long Available, long Confirmed, long PendingQuantity,
    IReadOnlyList<SkuBalance> Violations)
{
    public static ConservationResult Check(IReadOnlyList<SkuBalance> balances)
    {
        var violations = balances.Where(b => !b.Holds).ToList();
        return new ConservationResult(violations.Count == 0, balances.Count, balances.Sum(b => b.Seeded), balances.Sum(b => b.Available),
            balances.Sum(b => b.Confirmed), balances.Sum(b => b.PendingQuantity), violations);
    }
}

/// <summary>The result of one run: what --json prints.</summary>
public sealed record RunSummary(
    string OrdersUrl,
    int Clients,
    string Mix,
    double WarmupS,
    double MeasuredS,
    long Orders,
    long OrdersTotal,
    double OrdersPerS,
    LatencySummary LatencyMs,
    long Errors,
    long PendingAtEnd,
    SortedDictionary<string, long> StatusCodes,
    SortedDictionary<string, long> FinalStatuses,
    SortedDictionary<string, long> SettledStatuses,
    ConservationResult Conservation,
    int Lines,
    LatencySummary CancelLatencyMs,
    SortedDictionary<string, long> CancelStatusCodes,
    RelayLagSummary? RelayLag = null,
    IReadOnlyList<SecondPoint>? PerSecond = null,
    string Scenario = "steady",
    FlashSaleVerdict? FlashSale = null)
{
    /// <summary>What the exit code says: stock conserved and, for a flash sale, its books exact.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Ok => Conservation.Ok && FlashSale?.Ok != false;

    public static RunSummary Create(LoadOptions options, TimeSpan measured, long ordersTotal, ClientTally merged,
        IReadOnlyDictionary<string, long> settled, long pendingAtEnd, ConservationResult conservation, RelayLagSummary? relayLag = null,
        IReadOnlyList<SecondPoint>? perSecond = null, FlashSaleVerdict? flashSale = null) => new(
        options.OrdersUrl.ToString(), options.Clients, options.Mix.ToString(), options.Warmup.TotalSeconds,
        Math.Round(measured.TotalSeconds, 3), merged.Measured, ordersTotal, Throughput.PerSecond(merged.Measured, measured),
        Latency.Summarize(merged.Histogram), merged.Errors, pendingAtEnd,
        new(merged.StatusCodes.ToDictionary(kv => kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), kv => kv.Value), StringComparer.Ordinal),
        new(merged.FinalStatuses, StringComparer.Ordinal),
        new(settled.ToDictionary(), StringComparer.Ordinal),
        conservation,
        options.Lines,
        Latency.Summarize(merged.CancelHistogram),
        new(merged.CancelStatusCodes.ToDictionary(kv => kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), kv => kv.Value), StringComparer.Ordinal),
        relayLag,
        perSecond,
        flashSale is null ? "steady" : "flash-sale",
        flashSale);

    public string ToText()
    {
        var w = new System.Text.StringBuilder();
        var l = LatencyMs;
        w.AppendLine(FlashSale is { } flash
            ? $"flash sale: clients {Clients}, {Lines} line(s) per basket" + (flash.SingleLinePercent > 0 ? $" ({flash.SingleLinePercent} % one-line)" : "") +
              $", {flash.Stock} units of one SKU, measured {MeasuredS:0.0} s (every order)"
            : $"clients {Clients}, {Lines} line(s) per order, mix {Mix}, measured {MeasuredS:0.0} s after {WarmupS:0.#} s warmup");
        w.AppendLine($"orders/s   {OrdersPerS:0.0}   ({Orders} measured, {OrdersTotal} sent in all)");
        w.AppendLine($"latency ms p50 {l.P50Ms:0.000}  p90 {l.P90Ms:0.000}  p99 {l.P99Ms:0.000}  p99.9 {l.P999Ms:0.000}  max {l.MaxMs:0.000}  mean {l.MeanMs:0.000}");
        if (RelayLag is { } r)
        {
            var g = r.LagMs;
            w.AppendLine($"relay lag  ms p50 {g.P50Ms:0.000}  p90 {g.P90Ms:0.000}  p99 {g.P99Ms:0.000}  p99.9 {g.P999Ms:0.000}  max {g.MaxMs:0.000}  " +
                         $"({g.Count} events committed in the measured window; {r.Deliveries} deliveries, {r.Duplicates} duplicates" +
                         (r.Unreadable > 0 ? $", {r.Unreadable} unreadable" : "") + ")");
            w.AppendLine("           (consumer receive time - CloudEvent time, the transaction's timestamp: an upper bound of commit -> delivery)");
        }
        w.AppendLine($"errors     {Errors}");
        if (CancelStatusCodes.Count > 0)
        {
            var c0 = CancelLatencyMs;
            w.AppendLine($"cancels    {string.Join("  ", CancelStatusCodes.Select(kv => $"{kv.Key}: {kv.Value}"))}   latency ms p50 {c0.P50Ms:0.000}  p99 {c0.P99Ms:0.000}  max {c0.MaxMs:0.000}");
        }
        w.AppendLine($"status     {string.Join("  ", StatusCodes.Select(kv => $"{kv.Key}: {kv.Value}"))}");
        w.AppendLine($"final      {string.Join("  ", FinalStatuses.Select(kv => $"{kv.Key}: {kv.Value}"))}");
        if (SettledStatuses.Count > 0)
            w.AppendLine($"settled    {string.Join("  ", SettledStatuses.Select(kv => $"{kv.Key}: {kv.Value}"))}  (PENDING or unanswered orders, replayed after the run)");
        var c = Conservation;
        w.AppendLine($"stock      {(c.Ok ? "conserved" : "NOT CONSERVED")} over {c.SkusChecked} SKUs: seeded {c.Seeded} = available {c.Available} + confirmed {c.Confirmed}" +
                     (c.PendingQuantity > 0 ? $" (+ up to {c.PendingQuantity} held by {PendingAtEnd} PENDING orders)" : ""));
        foreach (var v in c.Violations.Take(10))
            w.AppendLine($"  {v.Sku}: seeded {v.Seeded}, available {v.Available}, confirmed {v.Confirmed}, pending {v.PendingQuantity}, unaccounted {v.Unaccounted}");
        if (FlashSale is { } sale) w.AppendLine(sale.ToText());
        return w.ToString();
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RunSummary))]
internal sealed partial class SummaryJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
