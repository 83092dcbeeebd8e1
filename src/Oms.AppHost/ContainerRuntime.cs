using System.ComponentModel;
using System.Diagnostics;

namespace Oms.AppHost;

/// <summary>
/// Aspire's AddPostgres does not fail without a working container runtime or image: it waits forever. So we ask the
/// runtime ourselves (<c>docker info</c> / <c>podman info</c>, <c>image inspect</c>, <c>pull</c>, each bounded) first.
/// </summary>
public static class ContainerRuntime
{
    /// <summary>"docker" or "podman" when its engine answers, else null. Honors ASPIRE_CONTAINER_RUNTIME when set.</summary>
    public static async Task<string?> DetectAsync(TimeSpan timeout)
    {
        var preferred = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME")
            ?? Environment.GetEnvironmentVariable("DOTNET_ASPIRE_CONTAINER_RUNTIME");
        string[] candidates = string.IsNullOrWhiteSpace(preferred) ? ["docker", "podman"] : [preferred.Trim().ToLowerInvariant()];
        foreach (var runtime in candidates)
            if ((await RunAsync(runtime, ["info", "--format", "{{json .}}"], timeout)).ExitCode == 0) return runtime;
        return null;
    }

    /// <summary>Null when the image is present locally or was pulled within <paramref name="timeout"/>; else why not.</summary>
    public static async Task<string?> EnsureImageAsync(string runtime, string image, TimeSpan timeout)
    {
        if ((await RunAsync(runtime, ["image", "inspect", image], TimeSpan.FromSeconds(30))).ExitCode == 0) return null;
        Console.WriteLine($"Pulling {image} (up to {timeout.TotalSeconds:0} s)...");
        var (code, output) = await RunAsync(runtime, ["pull", image], timeout);
        if (code == 0) return null;
        var lastLine = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        return code is null ? $"'{runtime} pull {image}' did not finish within {timeout.TotalSeconds:0} s."
            : $"'{runtime} pull {image}' failed: {lastLine ?? $"exit code {code}"}";
    }

    /// <summary>"postgres:15" → ("postgres", "15"); "registry:5000/pg" → ("registry:5000/pg", "latest").</summary>
    public static (string Name, string Tag) SplitImage(string image)
    {
        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
    }

    /// <summary>Runs the runtime's CLI; ExitCode is null when it did not finish in time (it is then killed) or is not installed.</summary>
    private static async Task<(int? ExitCode, string Output)> RunAsync(string runtime, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(runtime)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Win32Exception) { return (null, $"{runtime} is not installed"); }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
                return (process.ExitCode, await stdout + await stderr);
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return (null, ""); // a hung engine is not a healthy one
            }
        }
    }
}
