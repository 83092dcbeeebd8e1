using System.Diagnostics;
using System.Text;
using Oms.Testing;

namespace Oms.EventsConsumer.Tests;

/// <summary>The tool as users run it: a process, configured by environment, stopped with Ctrl+C (SIGINT).</summary>
public sealed class ProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_tool_prints_events_on_stdout_and_stops_cleanly_on_ctrl_c_or_SIGTERM()
    {
        await using var node = await RabbitMqNode.StartAsync();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(ToolDll);
        psi.Environment["OMS_EVENTS_URI"] = node.AmqpUri;
        psi.ArgumentList.Add("--queue");
        psi.ArgumentList.Add("from-process");
        using var process = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Out() { lock (stdout) return stdout.ToString(); }
        string Err() { lock (stderr) return stderr.ToString(); }

        try
        {
            await Eventually.UntilAsync(() => Task.FromResult(Err().Contains("consuming queue from-process")), Timeout, "the tool subscribed");
            var orderId = Guid.NewGuid();
            var created = TestEventPublisher.Create(orderId, 1, "order.created", new { });
            await TestEventPublisher.PublishAsync(node.AmqpUri, created, created);
            await Eventually.UntilAsync(() => Task.FromResult(Err().Contains($"duplicate {created.Id}")), Timeout, "the duplicate skipped");

            Assert.Single(Out().Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.Contains($"order.created") && line.Contains($"order={orderId} seq=1"));
            Assert.DoesNotContain(node.AmqpUri.Split('@')[0], Err()); // the password is not logged

            Assert.Equal(0, Kill(process.Id, StopSignal()));
            // A deadline past the tool's own bound on its clean stop (EventsConsumer.StopTimeout), for a busy machine.
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(2 * Timeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("stopped: 1 events handled, 1 duplicates skipped, 0 rejected", Err());
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException { Message: var m } || !m.Contains("--- the tool's stderr"))
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- the tool's stderr:\n{Err()}\n--- its stdout:\n{Out()}");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }

    [Fact]
    public async Task Bad_arguments_exit_2_with_the_reason_and_the_usage()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(ToolDll);
        psi.ArgumentList.Add("--prefetch");
        psi.ArgumentList.Add("0");
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, process.ExitCode);
        var text = await stderr;
        Assert.Contains("--prefetch must be a whole number from 1 to 65535, got '0'", text);
        Assert.Contains("--binding KEY", text);
    }

    /// <summary>
    /// The tool from its own bin folder, built with the same configuration as this test (the project reference builds
    /// it): its copy in this folder would resolve assemblies against the test's dependency versions.
    /// </summary>
    private static string ToolDll
    {
        get
        {
            var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)); // tests/X/bin/<Configuration>/<tfm>
            var (tfm, configuration) = (here.Name, here.Parent!.Name);
            var root = here;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Oms.slnx"))) root = root.Parent;
            var dll = Path.Combine(root?.FullName ?? throw new DirectoryNotFoundException("Oms.slnx not found above " + here),
                "tools", "Oms.EventsConsumer", "bin", configuration, tfm, "Oms.EventsConsumer.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build tools/Oms.EventsConsumer first.", dll);
        }
    }

    private const int Sigint = 2, Sigterm = 15;

    /// <summary>
    /// Ctrl+C (SIGINT), unless this process ignores it: a background job of a non-interactive shell (as under CI) starts
    /// with SIGINT ignored, the tool inherits that, and .NET leaves an inherited SIG_IGN alone. Then SIGTERM (`docker
    /// stop`, systemd), which the tool handles the same way.
    /// </summary>
    private static int StopSignal()
    {
        var ignored = File.ReadLines("/proc/self/status").First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))["SigIgn:".Length..].Trim();
        return (Convert.ToUInt64(ignored, 16) & (1UL << (Sigint - 1))) != 0 ? Sigterm : Sigint;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
