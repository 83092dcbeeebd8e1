using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Oms.AppHost;

/// <summary>
/// A private RabbitMQ node run from the machine's binaries (Debian's rabbitmq-server) when no container is used.
/// Everything lives under <see cref="RootDir"/> (default <c>.data/rabbitmq</c> at the repo root, kept between runs):
/// <c>mnesia/</c> (the node's data), <c>log/</c>, <c>home/</c> (HOME, so the Erlang cookie is private to this node),
/// <c>rabbitmq.conf</c> and <c>enabled_plugins</c> (written at each start; the conf holds the password, mode 0600),
/// <c>credentials.json</c> (the generated user and password, mode 0600). Every listener is on 127.0.0.1, including
/// a private epmd and the distribution port, so the node never meets a system node or another user's.
/// The node runs detached (<c>rabbitmq-server -detached</c>): one left running by a killed AppHost is adopted.
/// </summary>
public sealed class LocalRabbitMq
{
    public const string UserName = "oms";
    public const string NodeName = "oms@localhost";
    private const string OrderServiceConnectionPrefix = "Orders.Api ";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    // Bounds every call of a RabbitMQ script: the longest, rabbitmqctl wait, is itself bounded by StartTimeout.
    private static readonly TimeSpan ToolTimeout = StartTimeout + TimeSpan.FromSeconds(30);

    private readonly string _binDir;
    private bool _startedByUs;

    public LocalRabbitMq(string binDir, string rootDir, int amqpPort, int managementPort, int distributionPort, int epmdPort)
    {
        _binDir = binDir;
        RootDir = Path.GetFullPath(rootDir);
        AmqpPort = amqpPort;
        ManagementPort = managementPort;
        DistributionPort = distributionPort;
        EpmdPort = epmdPort;
    }

    public string RootDir { get; }
    public string CredentialsFile => Path.Combine(RootDir, "credentials.json");
    public string LogFile => Path.Combine(RootDir, "log", NodeName + ".log");
    public int AmqpPort { get; private set; }
    public int ManagementPort { get; private set; }
    public int DistributionPort { get; }
    public int EpmdPort { get; }

    /// <summary>True when a node from a previous run was found running and reused.</summary>
    public bool Adopted { get; private set; }

    /// <summary>The generated password of <see cref="UserName"/> (hex: needs no escaping in a URI).</summary>
    public string Password { get; private set; } = "";

    /// <summary>AMQP URI of the default virtual host, as the order service's ConnectionStrings:events.</summary>
    public string AmqpUri => $"amqp://{UserName}:{Password}@127.0.0.1:{AmqpPort}";
    public string ManagementUrl => $"http://localhost:{ManagementPort}/";

    /// <summary>The RabbitMQ scripts: OMS_RABBITMQ_BIN, Debian's /usr/lib/rabbitmq/bin, the generic layout's sbin.
    /// Not /usr/sbin: Debian's wrappers there switch to the rabbitmq user, whose HOME (cookie) is not ours.</summary>
    public static string? FindBinDir()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("OMS_RABBITMQ_BIN") is { Length: > 0 } fromEnvironment) candidates.Add(fromEnvironment);
        candidates.Add("/usr/lib/rabbitmq/bin");
        if (Directory.Exists("/usr/lib/rabbitmq/lib"))
            candidates.AddRange(Directory.GetDirectories("/usr/lib/rabbitmq/lib", "rabbitmq_server-*")
                .OrderDescending(StringComparer.Ordinal).Select(d => Path.Combine(d, "sbin")));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "rabbitmq-server")) && File.Exists(Path.Combine(d, "rabbitmqctl")));
    }

    /// <summary>Starts the node (or adopts one left running), waits until it serves, and makes sure the user exists
    /// with the password of <see cref="CredentialsFile"/>.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        foreach (var dir in new[] { RootDir, Path.Combine(RootDir, "home"), Path.Combine(RootDir, "mnesia"), Path.Combine(RootDir, "log") })
            Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(RootDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Password = LoadOrCreatePassword();

        if (await RunCtlAsync("rabbitmq-diagnostics", ["-q", "ping"], null, ct) is (0, _))
        {
            Adopted = true;
            await ReadListenersAsync(ct);
            Console.WriteLine($"[rabbitmq] A node from a previous run is still running (AMQP port {AmqpPort}): reusing it.");
        }
        else
        {
            WriteConfiguration();
            Console.WriteLine($"[rabbitmq] Starting RabbitMQ ({_binDir}) on 127.0.0.1:{AmqpPort}, data in {RootDir}");
            var (code, output) = await RunCtlAsync("rabbitmq-server", ["-detached"], null, ct);
            if (code != 0) throw new LocalRabbitMqException($"rabbitmq-server -detached exited with code {code}: {output.Trim()}");
        }
        _startedByUs = true;

        // Waits for the pid file, the distribution, then the broker and its plugins; fails at once if the VM exits.
        var pidFile = Path.Combine(RootDir, "mnesia", NodeName + ".pid");
        var (waited, waitOutput) = await RunCtlAsync("rabbitmqctl", ["wait", "--timeout", ((int)StartTimeout.TotalSeconds).ToString(), pidFile], null, ct);
        if (waited != 0)
            throw new LocalRabbitMqException($"RabbitMQ did not start: {LastLine(waitOutput)}\n--- last lines of {LogFile} ---\n{TailLog()}");

        if (!await CanLogInAsync(ct)) await RepairUserAsync(ct);
        Console.WriteLine($"[rabbitmq] Ready: AMQP on 127.0.0.1:{AmqpPort} (user {UserName}), management on {ManagementUrl}");
    }

    /// <summary>Stops the node cleanly (rabbitmqctl shutdown waits for the VM to exit), then the private epmd.</summary>
    public async Task StopAsync()
    {
        if (!_startedByUs) return;
        _startedByUs = false;
        // The orchestrator stops the services in the background: let the order service's relay finish its publishes
        // (and their confirms) and disconnect before the broker goes (an unconfirmed event would be sent again anyway).
        await WaitForClientsToDisconnectAsync(TimeSpan.FromSeconds(20));
        Console.WriteLine("[rabbitmq] Stopping RabbitMQ...");
        var (code, output) = await RunCtlAsync("rabbitmqctl", ["-q", "shutdown"], null, CancellationToken.None);
        if (code != 0 && await RunCtlAsync("rabbitmq-diagnostics", ["-q", "ping"], null, CancellationToken.None) is (0, _))
        {
            Console.Error.WriteLine($"[rabbitmq] Stop failed: {LastLine(output)}");
            return;
        }
        // epmd refuses to exit while a node is registered, so this never pulls it from under another node.
        await TryRunAsync("epmd", ["-port", EpmdPort.ToString(), "-kill"], null, ToolEnvironment(), CancellationToken.None);
        Console.WriteLine("[rabbitmq] Stopped.");
    }

    private async Task WaitForClientsToDisconnectAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = new Uri(ManagementUrl), Timeout = TimeSpan.FromSeconds(5) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{UserName}:{Password}")));
        var deadline = DateTime.UtcNow + timeout;
        var announced = false;
        try
        {
            while (true)
            {
                using var connections = JsonDocument.Parse(await http.GetStringAsync("api/connections?columns=client_properties"));
                if (!connections.RootElement.EnumerateArray().Any(IsOrderService) || DateTime.UtcNow > deadline) return;
                if (!announced) Console.WriteLine("[rabbitmq] Waiting for the order service to disconnect...");
                announced = true;
                await Task.Delay(250);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            // Node or management plugin gone: nothing to wait for.
        }
    }

    // The order service names its connections "<application name> <purpose>" ("Orders.Api outbox relay"); other
    // clients (a consumer on the host) may stay connected: the broker does not wait for them.
    private static bool IsOrderService(JsonElement connection) =>
        connection.TryGetProperty("client_properties", out var properties)
        && properties.TryGetProperty("connection_name", out var name) && name.ValueKind == JsonValueKind.String
        && name.GetString()!.StartsWith(OrderServiceConnectionPrefix, StringComparison.Ordinal);

    /// <summary>True when the node accepts an AMQP login with our credentials.</summary>
    public async Task<bool> IsHealthyAsync(CancellationToken ct) => await CanLogInAsync(ct);

    private async Task<bool> CanLogInAsync(CancellationToken ct)
    {
        var factory = new ConnectionFactory { Uri = new Uri(AmqpUri), RequestedConnectionTimeout = TimeSpan.FromSeconds(5), AutomaticRecoveryEnabled = false };
        try
        {
            await using var connection = await factory.CreateConnectionAsync("oms-apphost-probe", ct);
            return connection.IsOpen;
        }
        catch (Exception e) when (e is BrokerUnreachableException or RabbitMQClientException or OperationInterruptedException
                                       or IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// The conf's default user is applied only when the node's data is created: when the credentials file was lost
    /// or replaced since, the user is (re)created and given the password through rabbitmqctl, which reads it from
    /// stdin (never on a command line).
    /// </summary>
    private async Task RepairUserAsync(CancellationToken ct)
    {
        Console.WriteLine($"[rabbitmq] User {UserName} cannot log in with {CredentialsFile}: setting its password.");
        if (await RunCtlAsync("rabbitmqctl", ["-q", "add_user", UserName], Password, ct) is not (0, _))
        {
            var (code, output) = await RunCtlAsync("rabbitmqctl", ["-q", "change_password", UserName], Password, ct);
            if (code != 0) throw new LocalRabbitMqException($"rabbitmqctl change_password failed: {LastLine(output)}");
        }
        await RunCtlCheckedAsync(["-q", "set_user_tags", UserName, "administrator"], ct);
        await RunCtlCheckedAsync(["-q", "set_permissions", "-p", "/", UserName, ".*", ".*", ".*"], ct);
        if (!await CanLogInAsync(ct)) throw new LocalRabbitMqException($"User {UserName} still cannot log in over AMQP on port {AmqpPort}.");
    }

    /// <summary>A node left running may listen on other ports than this run's defaults: use the ones it has.</summary>
    private async Task ReadListenersAsync(CancellationToken ct)
    {
        var (code, output) = await RunCtlAsync("rabbitmq-diagnostics", ["-q", "listeners", "--formatter", "json"], null, ct);
        if (code != 0) return;
        try
        {
            using var json = JsonDocument.Parse(output);
            foreach (var listener in json.RootElement.GetProperty("listeners").EnumerateArray())
            {
                var port = listener.GetProperty("port").GetInt32();
                switch (listener.GetProperty("protocol").GetString())
                {
                    case "amqp": AmqpPort = port; break;
                    case "http": ManagementPort = port; break;
                }
            }
        }
        catch (JsonException) { } // keep the configured ports
    }

    private void WriteConfiguration()
    {
        // Written at each start (ports may change between runs); default_* only take effect on the first boot.
        // The AMQP listener comes from RABBITMQ_NODE_IP_ADDRESS/RABBITMQ_NODE_PORT (see ToolEnvironment).
        WritePrivateFile(Path.Combine(RootDir, "rabbitmq.conf"), $"""
            # Written by the AppHost at each start (LocalRabbitMq.cs); edits are overwritten.
            management.tcp.ip = 127.0.0.1
            management.tcp.port = {ManagementPort}
            default_vhost = /
            default_user = {UserName}
            default_pass = {Password}
            default_user_tags.administrator = true
            default_permissions.configure = .*
            default_permissions.read = .*
            default_permissions.write = .*

            """);
        File.WriteAllText(Path.Combine(RootDir, "enabled_plugins"), "[rabbitmq_management].\n");
    }

    private string LoadOrCreatePassword()
    {
        var credentials = File.Exists(CredentialsFile)
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(CredentialsFile)) ?? []
            : [];
        if (credentials.TryGetValue(UserName, out var existing) && existing.Length >= 16) return existing;
        credentials[UserName] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        WritePrivateFile(CredentialsFile, JsonSerializer.Serialize(credentials, new JsonSerializerOptions { WriteIndented = true }));
        return credentials[UserName];
    }

    // Created empty with mode 0600 first, so the secret is never readable by others, then moved into place.
    private static void WritePrivateFile(string path, string contents)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(tmp, contents);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>What the RabbitMQ scripts read: node name, folders, ports; HOME for the Erlang cookie.</summary>
    private Dictionary<string, string> ToolEnvironment() => new()
    {
        ["HOME"] = Path.Combine(RootDir, "home"),
        ["RABBITMQ_NODENAME"] = NodeName,
        ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(),
        ["RABBITMQ_DIST_PORT"] = DistributionPort.ToString(),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(RootDir, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = Path.Combine(RootDir, "log"),
        ["RABBITMQ_CONFIG_FILE"] = Path.Combine(RootDir, "rabbitmq.conf"),
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(RootDir, "enabled_plugins"),
        ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        ["ERL_EPMD_PORT"] = EpmdPort.ToString(),
        ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
    };

    private async Task RunCtlCheckedAsync(string[] args, CancellationToken ct)
    {
        var (code, output) = await RunCtlAsync("rabbitmqctl", args, null, ct);
        if (code != 0) throw new LocalRabbitMqException($"rabbitmqctl {args[1]} failed: {LastLine(output)}");
    }

    private Task<(int ExitCode, string Output)> RunCtlAsync(string tool, string[] args, string? stdin, CancellationToken ct) =>
        TryRunAsync(Path.Combine(_binDir, tool), args, stdin, ToolEnvironment(), ct);

    /// <summary>Runs a tool with a bound; exit code -1 when it did not finish in time or could not be started.</summary>
    private static async Task<(int ExitCode, string Output)> TryRunAsync(
        string file, string[] args, string? stdin, Dictionary<string, string> environment, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { return (-1, $"{file}: {e.Message}"); }
        using (process)
        {
            if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bounded.CancelAfter(ToolTimeout);
            try
            {
                await process.WaitForExitAsync(bounded.Token);
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                if (ct.IsCancellationRequested) throw;
                return (-1, $"{Path.GetFileName(file)} did not finish in time");
            }
            return (process.ExitCode, await stdout + await stderr);
        }
    }

    private static string LastLine(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no output)";

    private string TailLog()
    {
        try { return string.Join('\n', File.ReadLines(LogFile).TakeLast(15)); }
        catch (IOException) { return "(no log)"; }
        catch (UnauthorizedAccessException) { return "(log unreadable)"; }
    }
}

public sealed class LocalRabbitMqException(string message) : Exception(message);
