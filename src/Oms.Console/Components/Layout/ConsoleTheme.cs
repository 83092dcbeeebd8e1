using MudBlazor;

namespace Oms.Console.Components.Layout;

internal static class ConsoleTheme
{
    // Darker than MudBlazor's defaults so that text and focus rings keep a 4.5:1 contrast (WCAG AA) on white.
    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#0d47a1",
            Secondary = "#4a148c",
            Error = "#b71c1c",
            Success = "#1b5e20",
            Warning = "#8a4b00",
            AppbarBackground = "#0d47a1",
        },
        Typography = new Typography
        {
            Default = new DefaultTypography { FontFamily = ["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"] },
        },
    };
}
