using ScottPlot;

namespace Oms.BenchCharts;

/// <summary>Draws one PNG per chart file. Sizes are fixed per kind so that charts of different sittings line up.</summary>
public static class Charts
{
    public const int Width = 1200;
    public const int PanelHeight = 450;

    /// <summary>Pixel size of the PNG of a chart: two panels side by side, or stacked for the per-second curves.</summary>
    public static (int Width, int Height) SizeOf(ChartFile chart) => chart switch
    {
        ColdStartChart => (Width, 2 * PanelHeight),
        _ => (Width, PanelHeight + 50),
    };

    public static void Save(ChartFile chart, string pngPath)
    {
        var (width, height) = SizeOf(chart);
        var panels = chart switch
        {
            ArmsChart a => Arms(a),
            SweepChart s => Sweep(s),
            ColdStartChart c => ColdStart(c),
            LatenciesChart l => Latencies(l),
            _ => throw new ArgumentException($"no drawing for kind {chart.Kind}"),
        };
        var font = Fonts.UseMachineFont() is null ? null : Fonts.Name;
        foreach (var p in panels)
        {
            if (font is not null) p.Font.Set(font);
            // Throughput and latency read from zero: a cut axis would exaggerate a difference.
            p.Axes.AutoScale();
            p.Axes.SetLimitsY(0, p.Axes.GetLimits().Top);
        }
        panels[0].Title(Heading(chart));
        var multiplot = new Multiplot();
        multiplot.Reset(panels[0]); // a new multiplot holds one empty plot of its own
        foreach (var p in panels.Skip(1)) multiplot.AddPlot(p);
        multiplot.Layout = chart is ColdStartChart
            ? new ScottPlot.MultiplotLayouts.Grid(panels.Length, 1)
            : new ScottPlot.MultiplotLayouts.Grid(1, panels.Length);
        multiplot.SavePng(pngPath, width, height);
    }

    private static string Heading(ChartFile chart)
    {
        var title = chart.Title ?? chart switch
        {
            ArmsChart => "Comparison",
            SweepChart => "Orders/s and latency by clients",
            ColdStartChart => "Cold start",
            LatenciesChart => "Latencies",
            _ => chart.Kind,
        };
        var notes = new List<string>();
        if (chart is ArmsChart { Ratios.Count: > 0 } arms)
            notes.AddRange(Wrap(arms.Ratios.Select(r => $"{r.Label}: {r.Value:0.00}x" + (r.Target is { } t ? $" (target {t:0.##}x)" : ""))));
        if (!string.IsNullOrWhiteSpace(chart.Note)) notes.Add(chart.Note);
        return notes.Count == 0 ? title : $"{title}\n{string.Join("\n", notes)}";
    }

    /// <summary>Items joined on lines of at most <see cref="NoteWidth"/> characters (the title spans half the image).</summary>
    private static IEnumerable<string> Wrap(IEnumerable<string> items)
    {
        var line = "";
        foreach (var item in items)
        {
            if (line.Length > 0 && line.Length + 3 + item.Length > NoteWidth)
            {
                yield return line;
                line = "";
            }
            line = line.Length == 0 ? item : $"{line}   {item}";
        }
        if (line.Length > 0) yield return line;
    }

    private const int NoteWidth = 70;

    private static Color ColorOf(int index) => new ScottPlot.Palettes.Category10().GetColor(index);

    // kind "arms": orders/s bars (left), p50/p99 bars (right); each round a dot on its arm's bar.
    private static Plot[] Arms(ArmsChart chart)
    {
        var throughput = new Plot();
        var latency = new Plot();
        var labels = chart.Arms.Select(a => a.Label).ToArray();
        for (var i = 0; i < chart.Arms.Count; i++)
        {
            var arm = chart.Arms[i];
            if (arm.OrdersPerS is { } ops)
            {
                throughput.Add.Bar(new Bar { Position = i, Value = ops, FillColor = ColorOf(0), Label = $"{ops:0}" });
                AddRoundDots(throughput, i, arm.Rounds.Select(r => r.OrdersPerS));
            }
            // Value labels on the p50 bars only while they have room.
            if (arm.P50Ms is { } p50)
                latency.Add.Bar(new Bar { Position = i - 0.2, Value = p50, Size = 0.4, FillColor = ColorOf(2), Label = chart.Arms.Count <= 4 ? $"{p50:0.#}" : "" });
            if (arm.P99Ms is { } p99)
            {
                latency.Add.Bar(new Bar { Position = i + 0.2, Value = p99, Size = 0.4, FillColor = ColorOf(3), Label = $"{p99:0.#}" });
                AddRoundDots(latency, i + 0.2, arm.Rounds.Select(r => r.P99Ms));
            }
        }
        LegendEntry(latency, "p50", ColorOf(2));
        LegendEntry(latency, "p99", ColorOf(3));
        if (chart.TargetP99Ms is { } target) TargetLine(latency, target, $"target p99 {target:0.#} ms");
        foreach (var p in new[] { throughput, latency })
        {
            CategoryTicks(p, labels);
            p.Axes.Margins(bottom: 0, top: 0.15);
        }
        throughput.YLabel(chart.Clients is { } c ? $"orders/s ({c} clients)" : "orders/s");
        latency.YLabel("latency ms");
        latency.ShowLegend(Alignment.UpperLeft);
        return [throughput, latency];
    }

    // kind "clients-sweep": x = clients on a log2 scale (positions log2(c), labelled with c).
    private static Plot[] Sweep(SweepChart chart)
    {
        var rows = chart.Rows.OrderBy(r => r.Clients).ToArray();
        var xs = rows.Select(r => Math.Log2(Math.Max(1, r.Clients))).ToArray();
        var throughput = new Plot();
        Line(throughput, xs, rows.Select(r => r.OrdersPerS).ToArray(), "system", ColorOf(0));
        if (rows.Any(r => r.CeilingOrdersPerS is not null))
            Line(throughput, xs, rows.Select(r => r.CeilingOrdersPerS).ToArray(), "ceiling (pgbench, same PostgreSQL)", ColorOf(1), dashed: true);
        var latency = new Plot();
        if (rows.Any(r => r.P50Ms is not null)) Line(latency, xs, rows.Select(r => r.P50Ms).ToArray(), "p50", ColorOf(2));
        Line(latency, xs, rows.Select(r => r.P99Ms).ToArray(), "p99", ColorOf(3));
        foreach (var p in new[] { throughput, latency })
        {
            p.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs, rows.Select(r => r.Clients.ToString()).ToArray());
            p.XLabel("clients");
            p.Axes.Margins(bottom: 0);
            p.ShowLegend(Alignment.UpperLeft);
        }
        throughput.YLabel("orders/s");
        latency.YLabel("latency ms");
        return [throughput, latency];
    }

    // kind "cold-start": orders/s per second (top), p99 per second (bottom); the warmed level of each run dashed.
    private static Plot[] ColdStart(ColdStartChart chart)
    {
        var throughput = new Plot();
        var latency = new Plot();
        for (var i = 0; i < chart.Runs.Count; i++)
        {
            var run = chart.Runs[i];
            var xs = run.Points.Select(p => p.TS).ToArray();
            var label = run.Label + (run.Ratio is { } r ? $" ({r:0.00}x warmed)" : "") + (run.ReadyMs is { } ms ? $", ready {ms / 1000.0:0.0} s" : "");
            Line(throughput, xs, run.Points.Select(p => p.OrdersPerS).ToArray(), label, ColorOf(i));
            Line(latency, xs, run.Points.Select(p => p.P99Ms).ToArray(), run.Label, ColorOf(i));
            if (run.Warmed?.OrdersPerS is { } warmed)
            {
                var line = throughput.Add.HorizontalLine(warmed, 1, ColorOf(i), LinePattern.Dashed);
                line.LabelText = "";
            }
        }
        throughput.YLabel(chart.Clients is { } c ? $"orders/s ({c} clients)" : "orders/s");
        latency.YLabel("p99 ms");
        latency.XLabel("seconds since the load started (the services had just answered ready); dashed: warmed");
        foreach (var p in new[] { throughput, latency })
        {
            p.Axes.Margins(bottom: 0);
            p.ShowLegend(Alignment.UpperRight);
        }
        return [throughput, latency];
    }

    // kind "latencies": p99 bars per label (p50 thinner in front), one colour per series.
    private static Plot[] Latencies(LatenciesChart chart)
    {
        var plot = new Plot();
        var labels = chart.Items.Select(i => i.Label).Distinct().ToArray();
        var series = chart.Items.Select(i => i.Series ?? "").Distinct().ToArray();
        var width = 0.8 / series.Length;
        for (var s = 0; s < series.Length; s++)
        {
            foreach (var item in chart.Items.Where(i => (i.Series ?? "") == series[s]))
            {
                var position = Array.IndexOf(labels, item.Label) - 0.4 + width * (s + 0.5);
                plot.Add.Bar(new Bar { Position = position, Value = item.P99Ms, Size = width, FillColor = ColorOf(s), Label = $"{item.P99Ms:0.#}" });
                if (item.P50Ms is { } p50) plot.Add.Bar(new Bar { Position = position, Value = p50, Size = width / 2, FillColor = ColorOf(s).Darken(0.5) });
            }
            if (series[s] != "") LegendEntry(plot, $"{series[s]} p99 (p50 dark)", ColorOf(s));
        }
        if (chart.TargetP99Ms is { } target) TargetLine(plot, target, $"target p99 {target:0.#} ms");
        CategoryTicks(plot, labels);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.YLabel("p99 ms (p50: the narrow bar)");
        plot.ShowLegend(Alignment.UpperLeft);
        return [plot];
    }

    private static void Line(Plot plot, double[] xs, double?[] ys, string label, Color color, bool dashed = false)
    {
        // A missing figure leaves a gap: only the points that have one are drawn.
        var present = xs.Zip(ys).Where(p => p.Second is not null).ToArray();
        if (present.Length == 0) return;
        var scatter = plot.Add.Scatter(present.Select(p => p.First).ToArray(), present.Select(p => p.Second!.Value).ToArray(), color);
        scatter.LegendText = label;
        scatter.LineWidth = 2;
        scatter.MarkerSize = present.Length > 40 ? 0 : 6;
        if (dashed) scatter.LinePattern = LinePattern.Dashed;
    }

    private static void AddRoundDots(Plot plot, double position, IEnumerable<double?> values)
    {
        var ys = values.Where(v => v is not null).Select(v => v!.Value).ToArray();
        if (ys.Length == 0) return;
        var dots = plot.Add.Markers(ys.Select(_ => position).ToArray(), ys, MarkerShape.FilledCircle, 6, Colors.Black);
        dots.LegendText = "";
    }

    private static void TargetLine(Plot plot, double y, string label)
    {
        var line = plot.Add.HorizontalLine(y, 1.5f, Colors.Red, LinePattern.Dashed);
        line.LegendText = label;
    }

    private static void LegendEntry(Plot plot, string label, Color color) =>
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = label, FillColor = color });

    private static void CategoryTicks(Plot plot, string[] labels)
    {
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, labels.Length).Select(i => (double)i).ToArray(), labels);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        // Labels that would run into each other are slanted, with room made below the axis for them.
        if (labels.Sum(l => l.Length) > MaxUpright)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Bottom.MinimumSize = labels.Max(l => l.Length) * SlantedPixelsPerChar;
        }
        plot.HideGrid();
    }

    /// <summary>Characters of category labels that fit upright under one panel.</summary>
    private const int MaxUpright = 50;

    /// <summary>Height a slanted label takes per character (30°, the default 12 px font).</summary>
    private const float SlantedPixelsPerChar = 4.5f;
}
