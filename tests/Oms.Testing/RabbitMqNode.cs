using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RabbitMQ.Client;

namespace Oms.Testing;

/// <summary>
/// A real, throwaway RabbitMQ node for tests, started from the machine's binaries (Debian <c>rabbitmq-server</c>) on
/// free ports, with its own data folder, Erlang cookie, node name and epmd. Started directly (not through systemd or
/// the /usr/sbin wrapper, which switches to the rabbitmq user), so it runs as root and as anyone else alike.
/// <see cref="Kill"/> is a crash (SIGKILL of the Erlang VM); <see cref="RestartAsync"/> brings the node back on the
/// same ports and data, so durable queues and their persistent messages survive.
/// </summary>
public sealed class RabbitMqNode : IAsyncDisposable
{
    private const string User = "oms";
    private const string ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    // A deadline, not a wait: a node starts in seconds, but several test projects start nodes at once on 2 cores.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);
    // The node's ports come from here up to the start of the kernel's ephemeral range (ListenPort).
    private const int FirstListenPort = 10_000;
    private static readonly HashSet<int> HandedOut = [];

    private readonly string _dir;
    private readonly string _password;
    private readonly int _distPort;
    private readonly int _epmdPort;
    private Process? _epmd;
    private Process? _server;
    private int _startCount;

    private RabbitMqNode(string dir, string password, int port, int distPort, int epmdPort)
    {
        (_dir, _password, Port, _distPort, _epmdPort) = (dir, password, port, distPort, epmdPort);
        NodeName = $"rabbit-test-{port}@localhost";
    }

    /// <summary>The AMQP port, on 127.0.0.1.</summary>
    public int Port { get; }

    public string NodeName { get; }

    /// <summary>An AMQP URI the node accepts over TCP: a user of its own (not guest), the default vhost.</summary>
    public string AmqpUri => $"amqp://{User}:{_password}@127.0.0.1:{Port}";

    /// <summary>Where the node's data, logs and console output live (for a failing test's diagnostics).</summary>
    public string Directory => _dir;

    public static async Task<RabbitMqNode> StartAsync()
    {
        if (!File.Exists(ServerScript))
            throw new InvalidOperationException(
                $"{ServerScript} was not found. Install RabbitMQ's binaries (apt-get install rabbitmq-server).");
        var dir = System.IO.Directory.CreateTempSubdirectory("oms-test-rabbitmq-").FullName;
        var password = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var node = new RabbitMqNode(dir, password, ListenPort(), ListenPort(), ListenPort());
        try
        {
            node.WriteConfiguration();
            node.StartEpmd();
            await node.StartServerAsync();
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A free port for one of the node's listeners, below the kernel's ephemeral range. A port from that range (what
    /// binding port 0 gives) can be taken by any outgoing connection on the box between being chosen and being bound, and
    /// the node's Erlang distribution then refuses to start (<c>dist_port_already_used</c>). Below the range only another
    /// listener can take it: the port is tried free on every address, and this process never hands it out twice (a node
    /// stopped for a restart keeps its ports).
    /// </summary>
    private static int ListenPort()
    {
        var ephemeralStart = EphemeralRangeStart();
        if (ephemeralStart - FirstListenPort < 1_000) return PostgresServer.FreePort();
        lock (HandedOut)
        {
            for (var attempt = 0; attempt < 1_000; attempt++)
            {
                var port = Random.Shared.Next(FirstListenPort, ephemeralStart);
                if (!HandedOut.Add(port)) continue;
                try
                {
                    using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    probe.Bind(new IPEndPoint(IPAddress.Any, port));
                    return port;
                }
                catch (SocketException)
                {
                    // Taken by a listener: try another.
                }
            }
        }
        throw new InvalidOperationException($"No free port found between {FirstListenPort} and {ephemeralStart}.");
    }

    private static int EphemeralRangeStart()
    {
        try { return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return 32_768; }
    }

    /// <summary>SIGKILL of the Erlang VM (beam.smp), as a crash would; returns once it is gone. epmd stays up, as on a real host.</summary>
    public void Kill()
    {
        if (_server is null) return;
        var beam = BeamPid();
        if (beam is int pid)
        {
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { /* already gone */ }
            WaitForExit(pid, "SIGKILL");
        }
        // The start script (our child) waits on the VM and exits with it; make sure, without waiting on it forever.
        try { _server.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _server.WaitForExit(ExitTimeout);
        _server.Dispose();
        _server = null;
    }

    /// <summary>
    /// A clean shutdown (SIGTERM: the VM stops its applications, flushing its database) that returns once the VM is gone.
    /// </summary>
    public void Stop()
    {
        if (_server is null) return;
        if (BeamPid() is int pid)
        {
            using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", pid.ToString() }, UseShellExecute = false })!)
                kill.WaitForExit(ExitTimeout);
            WaitForExit(pid, "SIGTERM");
        }
        Kill();
    }

    /// <summary>
    /// A clean restart (<see cref="Stop"/>, then start), after which what was declared before it (queues, bindings) is in
    /// the node's database for sure. A node writes a declaration lazily: a SIGKILL soon after declare-ok can lose it, and
    /// with it every message routed after the restart until a client declares it again. A test that kills the node
    /// settles its topology first, as a real system's consumers' queues exist long before a crash. Clients reconnect.
    /// </summary>
    public async Task SettleAsync()
    {
        Stop();
        await RestartAsync();
    }

    /// <summary>Starts the node again on the same ports and data folder (after <see cref="Kill"/> or <see cref="Stop"/>).</summary>
    public async Task RestartAsync()
    {
        Kill();
        await StartServerAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        if (_epmd is not null)
        {
            try { _epmd.Kill(); } catch (InvalidOperationException) { }
            await _epmd.WaitForExitAsync().WaitAsync(ExitTimeout).ConfigureAwait(false);
            _epmd.Dispose();
            _epmd = null;
        }
        // OMS_KEEP_RABBITMQ=1 keeps the folder (the node's logs and database) to look into a failure afterwards.
        if (Environment.GetEnvironmentVariable("OMS_KEEP_RABBITMQ") is not null) return;
        try { System.IO.Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private void WriteConfiguration()
    {
        // default_user is created on the node's first boot; loopback_users = none lets it (and guest) in over TCP.
        File.WriteAllText(Path.Combine(_dir, "rabbitmq.conf"), $"""
            listeners.tcp.1 = 127.0.0.1:{Port}
            default_user = {User}
            default_pass = {_password}
            loopback_users = none
            log.console = false
            log.file.level = info

            """);
        File.WriteAllText(Path.Combine(_dir, "enabled_plugins"), "[].\n"); // no management plugin: tests speak AMQP only
        File.WriteAllText(Path.Combine(_dir, "rabbitmq-env.conf"), ""); // instead of /etc/rabbitmq/rabbitmq-env.conf
    }

    // Our own epmd on a free port: test nodes never share (or die with) the machine's default epmd on 4369.
    private void StartEpmd()
    {
        var psi = new ProcessStartInfo("epmd") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-port", _epmdPort.ToString() }) psi.ArgumentList.Add(arg);
        _epmd = Process.Start(psi)!;
        _epmd.OutputDataReceived += (_, _) => { };
        _epmd.ErrorDataReceived += (_, _) => { };
        _epmd.BeginOutputReadLine();
        _epmd.BeginErrorReadLine();
    }

    private async Task StartServerAsync()
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = _dir };
        var env = psi.Environment;
        env["HOME"] = _dir; // the Erlang cookie is written here
        env["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(_dir, "rabbitmq-env.conf");
        env["RABBITMQ_NODENAME"] = NodeName;
        env["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        env["RABBITMQ_NODE_PORT"] = Port.ToString();
        env["RABBITMQ_DIST_PORT"] = _distPort.ToString();
        env["ERL_EPMD_PORT"] = _epmdPort.ToString();
        env["RABBITMQ_MNESIA_BASE"] = Path.Combine(_dir, "mnesia");
        env["RABBITMQ_LOG_BASE"] = Path.Combine(_dir, "log");
        env["RABBITMQ_CONFIG_FILE"] = Path.Combine(_dir, "rabbitmq.conf");
        env["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(_dir, "advanced.config");
        env["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_dir, "enabled_plugins");
        env["RABBITMQ_PLUGINS_EXPAND_DIR"] = Path.Combine(_dir, "plugins-expand");
        env["RABBITMQ_PID_FILE"] = PidFile;
        File.Delete(PidFile);

        // The console output (the script's own and whatever the VM prints before its log file opens) goes to a file;
        // the shell execs the script, so the process we hold is the script itself, the VM its child.
        var consoleLog = Path.Combine(_dir, $"console-{++_startCount}.log");
        foreach (var arg in new[] { "-c", "exec \"$0\" >>\"$1\" 2>&1 </dev/null", ServerScript, consoleLog }) psi.ArgumentList.Add(arg);
        var server = Process.Start(psi)!;
        _server = server;

        // Ready = an AMQP connection with our user succeeds (the node opens its listener late in boot).
        var factory = new ConnectionFactory { Uri = new Uri(AmqpUri), AutomaticRecoveryEnabled = false, RequestedConnectionTimeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            if (server.HasExited)
                throw new InvalidOperationException($"RabbitMQ node {NodeName} exited with {server.ExitCode} while starting. {Diagnostics(consoleLog)}");
            try
            {
                await using var connection = await factory.CreateConnectionAsync();
                return;
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or IOException or System.Net.Sockets.SocketException)
            {
                last = e;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"RabbitMQ node {NodeName} did not accept AMQP connections within {StartTimeout.TotalSeconds:F0} s: {last?.Message}. {Diagnostics(consoleLog)}");
    }

    private string PidFile => Path.Combine(_dir, "node.pid");

    // The VM writes its OS pid to RABBITMQ_PID_FILE at boot; it is the start script's child (erl execs beam.smp).
    private int? BeamPid()
    {
        try
        {
            var text = File.ReadAllText(PidFile).Trim();
            if (int.TryParse(text, out var pid)) return pid;
        }
        catch (IOException) { }
        return FindChild(_server!.Id, "beam.smp");
    }

    private static int? FindChild(int parent, string name)
    {
        foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(') + 1)..close];
                var ppid = int.Parse(stat[(close + 2)..].Split(' ')[1]);
                if (ppid == parent && comm == name) return pid;
            }
            catch (IOException) { }
        }
        return null;
    }

    private static void WaitForExit(int pid, string signal)
    {
        var deadline = DateTime.UtcNow + ExitTimeout;
        // A killed child stays a zombie until its parent (the start script) reaps it: "gone" is no longer running.
        while (DateTime.UtcNow < deadline && IsRunning(pid)) Thread.Sleep(20);
        if (IsRunning(pid)) throw new TimeoutException($"beam.smp {pid} did not exit within {ExitTimeout.TotalSeconds:F0} s of {signal}.");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException) { return false; }
    }

    private string Diagnostics(string consoleLog)
    {
        string Tail(string path) => File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(30)) : "(none)";
        var log = Path.Combine(_dir, "log", NodeName + ".log");
        return $"Console output:\n{Tail(consoleLog)}\nNode log ({log}):\n{Tail(log)}";
    }
}
