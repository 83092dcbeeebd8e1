namespace Oms.LoadGen.Tests;

/// <summary>The per-second series of --json (the cold-start curve of bench/cold-start.sh).</summary>
public sealed class PerSecondTests
{
    [Fact]
    public void Completions_fall_in_the_second_they_completed_in_with_their_own_percentiles()
    {
        var series = new PerSecondSeries(warmupSeconds: 1);
        for (var i = 0; i < 100; i++) series.Record(TimeSpan.FromMilliseconds(500), 100_000);   // second 1: 100 at 100 ms
        for (var i = 0; i < 300; i++) series.Record(TimeSpan.FromMilliseconds(2_999), 2_000);   // second 3: 300 at 2 ms
        series.CountError(TimeSpan.FromMilliseconds(2_100));

        var points = series.Points();

        Assert.Equal([1, 2, 3], points.Select(p => p.TS));
        Assert.Equal([100L, 0L, 300L], points.Select(p => p.Orders));
        Assert.Equal(100.0, points[0].P99Ms, 0);
        Assert.Equal(2.0, points[2].P99Ms, 1);
        Assert.Equal(0, points[1].OrdersPerS);   // a stalled second shows as zero, not as a gap
        Assert.Equal([0L, 0L, 1L], points.Select(p => p.Errors));
        Assert.Equal([true, false, false], points.Select(p => p.Warmup));
    }

    [Fact]
    public void The_json_summary_carries_the_series_under_per_second()
    {
        var options = new LoadOptions(new Uri("http://localhost:8001"), new Uri("http://localhost:8002"), 64, TimeSpan.FromSeconds(2), null,
            TimeSpan.Zero, new OrderMix(100, 0, 0), 4, 1000, TimeSpan.Zero, TimeSpan.FromSeconds(30), true);
        var series = new PerSecondSeries(0);
        series.Record(TimeSpan.FromMilliseconds(10), 5_000);
        var summary = RunSummary.Create(options, TimeSpan.FromSeconds(2), 1, new ClientTally(1), new Dictionary<string, long>(), 0,
            ConservationResult.Check([]), perSecond: series.Points());

        var root = System.Text.Json.JsonDocument.Parse(System.Text.Json.JsonSerializer.Serialize(summary, SummaryJsonContext.Default.RunSummary)).RootElement;
        var first = root.GetProperty("per_second")[0];
        Assert.Equal(1, first.GetProperty("t_s").GetInt32());
        Assert.Equal(1.0, first.GetProperty("orders_per_s").GetDouble());
        Assert.Equal(5.0, first.GetProperty("p99_ms").GetDouble(), 1);
        Assert.False(first.GetProperty("warmup").GetBoolean());
    }
}
