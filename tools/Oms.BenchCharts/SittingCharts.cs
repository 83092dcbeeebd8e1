using System.Text.Json;

namespace Oms.BenchCharts;

public static class SittingCharts
{
    /// <summary>
    /// Renders every chart file directly in <paramref name="folder"/> into <paramref name="output"/>; returns the PNGs written.
    /// A file that is not JSON, or JSON without a known kind, is skipped (with a line on <paramref name="log"/> when unreadable).
    /// </summary>
    public static IReadOnlyList<string> Render(string folder, string output, TextWriter log)
    {
        Directory.CreateDirectory(output);
        var written = new List<string>();
        foreach (var file in Directory.EnumerateFiles(folder, "*.json").OrderBy(f => f, StringComparer.Ordinal))
        {
            ChartFile? chart;
            try { chart = Shapes.Read(File.ReadAllText(file)); }
            catch (JsonException e)
            {
                log.WriteLine($"skipped {file}: {e.Message}");
                continue;
            }
            if (chart is null) continue;
            var png = Path.Combine(output, Path.GetFileNameWithoutExtension(file) + ".png");
            Charts.Save(chart, png);
            written.Add(png);
        }
        return written;
    }
}
