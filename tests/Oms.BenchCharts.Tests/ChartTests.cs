using SkiaSharp;

namespace Oms.BenchCharts.Tests;

public sealed class ChartTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
    private readonly string output = Directory.CreateTempSubdirectory("oms-benchcharts-").FullName;

    public void Dispose() => Directory.Delete(output, recursive: true);

    [Fact]
    public void Every_chart_file_of_a_sitting_becomes_a_png_of_its_size_and_raw_results_are_skipped()
    {
        var log = new StringWriter();
        var written = SittingCharts.Render(Fixtures, output, log);

        Assert.Equal(["cold-start.png", "hot-sku.png", "run.png", "ten-million-queries.png"], written.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(Path.Combine(output, "loadgen-64.png"))); // no "kind": not a chart
        foreach (var png in written)
        {
            var chart = Shapes.Read(File.ReadAllText(Path.Combine(Fixtures, Path.GetFileNameWithoutExtension(png) + ".json")))!;
            var (width, height) = Charts.SizeOf(chart);
            using var bitmap = SKBitmap.Decode(png);
            Assert.NotNull(bitmap);
            Assert.Equal(width, bitmap.Width);
            Assert.Equal(height, bitmap.Height);
            Assert.True(DistinctColours(bitmap) > 10, $"{png} looks blank");
        }
        Assert.Equal("", log.ToString());
    }

    [Fact]
    public void The_per_second_curve_is_two_panels_high()
    {
        var chart = Shapes.Read(File.ReadAllText(Path.Combine(Fixtures, "cold-start.json")));
        var cold = Assert.IsType<ColdStartChart>(chart);
        Assert.Equal(2, cold.Runs.Count);
        Assert.Equal(30, cold.Runs[0].Points.Count);
        Assert.Equal(1, cold.Runs[0].Points[0].TS);   // read from "t_s"
        Assert.Equal((Charts.Width, 2 * Charts.PanelHeight), Charts.SizeOf(chart!));
    }

    [Fact]
    public void Shapes_read_snake_case_and_leave_missing_figures_null()
    {
        var arms = Assert.IsType<ArmsChart>(Shapes.Read("""
            {"kind": "arms", "arms": [{"label": "flash, 1 line", "p99_ms": 250.5, "confirmed": 1000}],
             "ratios": [{"label": "x", "value": 0.5}], "target_p99_ms": 100}
            """));
        var arm = Assert.Single(arms.Arms);
        Assert.Equal("flash, 1 line", arm.Label);
        Assert.Equal(250.5, arm.P99Ms);
        Assert.Null(arm.OrdersPerS);
        Assert.Null(Assert.Single(arms.Ratios).Target);
        Assert.Equal(100, arms.TargetP99Ms);

        var png = Path.Combine(output, "flash.png");
        Charts.Save(arms, png); // an arm with only a p99 still draws
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(Charts.Width, bitmap.Width);
    }

    [Theory]
    [InlineData("""{"orders_per_s": 1}""")]
    [InlineData("""{"kind": "something-else"}""")]
    [InlineData("""{"kind": 3}""")]
    [InlineData("""[{"kind": "arms"}]""")]
    public void Files_without_a_known_kind_are_not_charts(string json) => Assert.Null(Shapes.Read(json));

    [Fact]
    public void A_broken_file_is_skipped_with_a_line_in_the_log()
    {
        var sitting = Directory.CreateTempSubdirectory("oms-benchcharts-in-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(sitting, "broken.json"), """{"kind": "arms", "arms": [""");
            File.Copy(Path.Combine(Fixtures, "hot-sku.json"), Path.Combine(sitting, "hot-sku.json"));
            var log = new StringWriter();
            var written = SittingCharts.Render(sitting, output, log);
            Assert.Equal(["hot-sku.png"], written.Select(Path.GetFileName));
            Assert.Contains("broken.json", log.ToString());
        }
        finally { Directory.Delete(sitting, recursive: true); }
    }

    /// <summary>Colours in a sample of the pixels: a blank or single-colour image has one or two.</summary>
    private static int DistinctColours(SKBitmap bitmap)
    {
        var colours = new HashSet<SKColor>();
        for (var y = 0; y < bitmap.Height; y += 7)
            for (var x = 0; x < bitmap.Width; x += 7) colours.Add(bitmap.GetPixel(x, y));
        return colours.Count;
    }
}
