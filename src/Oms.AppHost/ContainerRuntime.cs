using System.ComponentModel;
using System.Diagnostics;

namespace Oms.AppHost;

/// <summary>
/// Aspire's AddPostgres does not fail without a working container runtime: it waits forever. So we ask the
/// runtime ourselves (<c>docker info</c> / <c>podman info</c>, with a short timeout) before choosing.
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
            if (await IsHealthyAsync(runtime, timeout)) return runtime;
        return null;
    }

    private static async Task<bool> IsHealthyAsync(string runtime, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(runtime)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("info");
        psi.ArgumentList.Add("--format");
        psi.ArgumentList.Add("{{json .}}");
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Win32Exception) { return false; } // not installed
        using (process)
        {
            process.StandardInput.Close();
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
                return process.ExitCode == 0;
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                return false; // a hung engine is not a healthy one
            }
        }
    }
}
