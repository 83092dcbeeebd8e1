// Draws the charts of a benchmark sitting: every *.json in the folder with a known "kind" (README.md) becomes
// <out>/<file stem>.png.
//   dotnet run -c Release --project tools/Oms.BenchCharts -- bench/results/<time> [--out docs/benchmarks/<sitting>]
using Oms.BenchCharts;

if (args.Length is not (1 or 3) || (args.Length == 3 && args[1] != "--out"))
{
    Console.Error.WriteLine("usage: Oms.BenchCharts <sitting folder> [--out <folder>]");
    return 2;
}
var folder = args[0];
var output = args.Length == 3 ? args[2] : folder;
if (!Directory.Exists(folder))
{
    Console.Error.WriteLine($"no folder {folder}");
    return 2;
}
var written = SittingCharts.Render(folder, output, Console.Error);
foreach (var png in written) Console.WriteLine(png);
if (written.Count == 0) Console.Error.WriteLine($"no chart files (JSON with a known \"kind\") in {folder}");
return 0;
