using System.Diagnostics;

namespace Oms.Chaos;

/// <summary>
/// One service as a real child process: <c>dotnet &lt;Service&gt;.dll</c> from the project's own bin folder,
/// configured only by environment variables, on a fixed loopback port that survives restarts.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly string _dll;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly StreamWriter _log;
    private readonly Lock _gate = new();
    private Process? _process;
    private bool _killedByUs;

    public ServiceProcess(string name, string dll, int port, IReadOnlyDictionary<string, string> environment, string logDirectory)
    {
        Name = name;
        _dll = dll;
        Port = port;
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
        _environment = environment;
        _log = new StreamWriter(Path.Combine(logDirectory, $"{name}.log"), append: true) { AutoFlush = true };
    }

    public string Name { get; }
    public int Port { get; }
    public Uri BaseUri { get; }

    /// <summary>Exits we did not cause (a crash of the service itself).</summary>
    public int UnexpectedExits { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts the process and waits for <c>/health/ready</c>; a start that dies (e.g. its database still recovering) is retried.</summary>
    public async Task StartAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var process = Launch();
            while (DateTime.UtcNow < deadline)
            {
                if (process.HasExited) break;
                if (await IsReadyAsync(ct)) return;
                await Task.Delay(100, ct);
            }
            if (!process.HasExited)
            {
                Kill();
                throw new TimeoutException($"{Name} did not become ready within {timeout.TotalSeconds:0} s (see {Name}.log).");
            }
            if (DateTime.UtcNow >= deadline)
                throw new TimeoutException($"{Name} kept exiting at start (exit code {process.ExitCode}; see {Name}.log).");
            await Task.Delay(250, ct);
        }
    }

    public async Task<bool> IsReadyAsync(CancellationToken ct)
    {
        try
        {
            using var response = await Probe.GetAsync(new Uri(BaseUri, "/health/ready"), ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>SIGKILL the process and everything it started, as a crash would.</summary>
    public void Kill() => Kill("killed (SIGKILL) by the chaos runner");

    private void Kill(string why)
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
            _killedByUs = true;
        }
        if (process is null || process.HasExited) return;
        process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
        WriteLog($"==== {DateTime.UtcNow:O} {why} ====");
    }

    private Process Launch()
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = Path.GetDirectoryName(_dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(_dll);
        foreach (var (key, value) in _environment) psi.Environment[key] = value;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) WriteLog(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) WriteLog(e.Data); };
        process.Exited += (_, _) =>
        {
            lock (_gate)
            {
                if (!_killedByUs && ReferenceEquals(process, _process)) UnexpectedExits++;
            }
        };
        lock (_gate)
        {
            _killedByUs = false;
            _process?.Dispose();
            _process = process;
        }
        WriteLog($"==== {DateTime.UtcNow:O} starting {Name} on port {Port} ====");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void WriteLog(string line)
    {
        lock (_log) _log.WriteLine(line);
    }

    /// <summary>The dotnet host running us (dotnet run / dotnet test set DOTNET_HOST_PATH), else the one on PATH.</summary>
    private static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk)) return fromSdk;
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }

    public void Dispose()
    {
        Kill("stopped (SIGKILL) at the end of the run");
        _process?.Dispose();
        lock (_log) _log.Dispose();
    }
}
