using System.Text.Json;
using System.Text.Json.Serialization;

namespace Oms.BenchCharts;

// The JSON shapes of README.md (also /work/notes/bench-json.md). Unknown fields are ignored; a missing optional
// figure leaves its bar or line out.

/// <summary>What every chart file has: its kind, an optional title and a note line under it.</summary>
public record ChartFile
{
    public string Kind { get; init; } = "";
    public string? Title { get; init; }
    public string? Note { get; init; }
}

/// <summary>Figures of one measurement: throughput and latency percentiles.</summary>
public record Figures
{
    public double? OrdersPerS { get; init; }
    public double? P50Ms { get; init; }
    public double? P99Ms { get; init; }
}

public sealed record Arm : Figures
{
    public string Label { get; init; } = "";
    public IReadOnlyList<Figures> Rounds { get; init; } = [];
}

public sealed record Ratio(string Label, double Value, double? Target);

/// <summary>kind "arms": a few arms compared (hot SKU vs spread, flash sale, big vs empty database, cold vs warmed).</summary>
public sealed record ArmsChart : ChartFile
{
    public int? Clients { get; init; }
    public IReadOnlyList<Arm> Arms { get; init; } = [];
    public IReadOnlyList<Ratio> Ratios { get; init; } = [];
    public double? TargetP99Ms { get; init; }
}

public sealed record SweepRow : Figures
{
    public int Clients { get; init; }
    public double? CeilingOrdersPerS { get; init; }
}

/// <summary>kind "clients-sweep": orders/s and latency by clients, the system beside the PostgreSQL ceiling (bench/run.sh).</summary>
public sealed record SweepChart : ChartFile
{
    public IReadOnlyList<SweepRow> Rows { get; init; } = [];
}

public sealed record SecondPoint : Figures
{
    [JsonPropertyName("t_s")] public double TS { get; init; }
    public long? Errors { get; init; }
}

public sealed record ColdRun
{
    public string Label { get; init; } = "";
    public long? ReadyMs { get; init; }
    public IReadOnlyList<SecondPoint> Points { get; init; } = [];
    public Figures? FirstWindow { get; init; }
    public Figures? Warmed { get; init; }
    public double? Ratio { get; init; }
}

/// <summary>kind "cold-start": throughput and p99 per second after a start, one line per run (bench/cold-start.sh).</summary>
public sealed record ColdStartChart : ChartFile
{
    public int? Clients { get; init; }
    public double? WindowS { get; init; }
    public double? TargetRatio { get; init; }
    public IReadOnlyList<ColdRun> Runs { get; init; } = [];
}

public sealed record LatencyItem
{
    public string Label { get; init; } = "";
    public string? Series { get; init; }
    public double? P50Ms { get; init; }
    public double P99Ms { get; init; }
}

/// <summary>kind "latencies": p50/p99 of named operations (list queries, timeline), optionally in series (1 M / 10 M).</summary>
public sealed record LatenciesChart : ChartFile
{
    public double? TargetP99Ms { get; init; }
    public IReadOnlyList<LatencyItem> Items { get; init; } = [];
}

public static class Shapes
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>The chart a file describes, or null when it is not a chart file (no known "kind": raw results).</summary>
    public static ChartFile? Read(string json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("kind", out var kind) ||
            kind.ValueKind != JsonValueKind.String) return null;
        return kind.GetString() switch
        {
            "arms" => doc.RootElement.Deserialize<ArmsChart>(Json),
            "clients-sweep" => doc.RootElement.Deserialize<SweepChart>(Json),
            "cold-start" => doc.RootElement.Deserialize<ColdStartChart>(Json),
            "latencies" => doc.RootElement.Deserialize<LatenciesChart>(Json),
            _ => null,
        };
    }
}
