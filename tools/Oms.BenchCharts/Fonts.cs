namespace Oms.BenchCharts;

/// <summary>
/// Skia is used without fontconfig (SkiaSharp.NativeAssets.Linux.NoDependencies: it loads on a bare machine), so it
/// knows no system font by name: the first sans-serif TrueType file found is registered as ScottPlot's default font.
/// Without any, the charts still render, without text.
/// </summary>
public static class Fonts
{
    private static readonly string[] Candidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    ];

    public const string Name = "OmsChartSans";

    private static readonly Lazy<string?> Registered = new(Register);

    /// <summary>The font file registered as <see cref="Name"/>, or null when the machine has none.</summary>
    public static string? UseMachineFont() => Registered.Value;

    private static string? Register()
    {
        var path = Candidates.FirstOrDefault(File.Exists)
                   ?? (Directory.Exists("/usr/share/fonts")
                       ? Directory.EnumerateFiles("/usr/share/fonts", "*.ttf", SearchOption.AllDirectories).OrderBy(p => p, StringComparer.Ordinal).FirstOrDefault()
                       : null);
        if (path is null) return null;
        ScottPlot.Fonts.AddFontFile(Name, path);
        ScottPlot.Fonts.Default = Name;
        return path;
    }
}
