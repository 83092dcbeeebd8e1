using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;

namespace Oms.AppHost;

/// <summary>
/// A private PostgreSQL server run from the machine's binaries when no container runtime is available.
/// Layout under <see cref="RootDir"/> (default <c>.data/postgres</c> at the repo root, kept between runs):
/// <c>data/</c> is the cluster (owned by <c>postgres</c> when we run as root, since PostgreSQL refuses root),
/// <c>credentials.json</c> holds the generated passwords of the service roles (mode 0600).
/// Administration goes through the Unix socket inside the data folder (trust, but only its owner and root can
/// reach it); TCP on 127.0.0.1 requires a password (scram-sha-256), and the superuser has none, so over TCP
/// only the service roles can log in, each to its own database: per database X an owner role <c>X_owner</c>
/// (migrations) and a runtime role <c>X</c> (DML only), made by deploy/postgres/provision-roles.sql.
/// </summary>
public sealed class LocalPostgres
{
    public static readonly string[] Databases = ["orders", "inventory", "payments"];

    private readonly string _binDir;
    private readonly bool _asPostgresUser;
    private bool _startedByUs;

    private readonly string _statementTimeout;

    /// <param name="statementTimeout">The runtime roles' statement_timeout, a PostgreSQL interval such as "10s".</param>
    public LocalPostgres(string binDir, string rootDir, int port, string statementTimeout)
    {
        _binDir = binDir;
        RootDir = Path.GetFullPath(rootDir);
        Port = port;
        _statementTimeout = statementTimeout;
        _asPostgresUser = Environment.IsPrivilegedProcess;
    }

    public string RootDir { get; }
    public string DataDir => Path.Combine(RootDir, "data");
    public string LogFile => Path.Combine(DataDir, "server.log");
    public int Port { get; private set; }

    /// <summary>Passwords of the service roles, by role name (X and X_owner for each database X).</summary>
    public IReadOnlyDictionary<string, string> Passwords { get; private set; } = new Dictionary<string, string>();

    /// <summary>Superuser connection over the Unix socket (no password; the socket lives in the 0700 data folder).</summary>
    public string AdminConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = DataDir, Port = Port, Username = "postgres", Database = "postgres", Pooling = false, Timeout = 5,
    }.ConnectionString;

    /// <summary>The roles of each database: the runtime role (named as the database) and its owner.</summary>
    public static IEnumerable<string> Roles => Databases.SelectMany(db => new[] { db, OwnerRole(db) });

    public static string OwnerRole(string database) => database + "_owner";

    /// <summary>The newest PostgreSQL server binaries: /usr/lib/postgresql/*/bin, then PATH.</summary>
    public static string? FindBinDir()
    {
        var candidates = new List<string>();
        if (Directory.Exists("/usr/lib/postgresql"))
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(d =>
            File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")) && File.Exists(Path.Combine(d, "postgres")));
    }

    /// <summary>initdb on first run, start (or adopt a server left running), wait for connections, provision roles and databases.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        // The socket path (data folder + "/.s.PGSQL.NNNN") must fit in sun_path (107 bytes).
        if (DataDir.Length > 90)
            throw new LocalPostgresException($"The PostgreSQL data folder path is too long for its Unix socket: {DataDir}. Set OMS_POSTGRES_DIR to a shorter folder.");
        Directory.CreateDirectory(RootDir);
        if (_asPostgresUser) await CheckPostgresUserCanReachAsync(ct);

        if (!File.Exists(Path.Combine(DataDir, "PG_VERSION")))
        {
            Console.WriteLine($"[postgres] First run: creating a new cluster in {DataDir}");
            Directory.CreateDirectory(DataDir);
            if (_asPostgresUser) await RunAsync("chown", ["-R", "postgres:postgres", DataDir], ct);
            await RunPgAsync("initdb", ["-D", DataDir, "-U", "postgres", "-E", "UTF8", "--locale=C",
                "--auth-local=trust", "--auth-host=scram-sha-256"], ct);
        }
        else if (_asPostgresUser)
        {
            // A folder restored or copied by root: PostgreSQL must own it.
            await RunAsync("chown", ["-R", "postgres:postgres", DataDir], ct);
        }

        var (running, runningPort) = await StatusAsync(ct);
        if (running)
        {
            Port = runningPort ?? Port;
            Console.WriteLine($"[postgres] A server from a previous run is still running on port {Port}: reusing it.");
        }
        else
        {
            Console.WriteLine($"[postgres] Starting PostgreSQL ({_binDir}) on 127.0.0.1:{Port}, data in {DataDir}");
            try
            {
                await RunPgAsync("pg_ctl", ["-D", DataDir, "-l", LogFile, "-w", "-t", "60", "-o",
                    $"-p {Port} -k {DataDir} -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700", "start"], ct);
            }
            catch (LocalPostgresException e)
            {
                throw new LocalPostgresException($"{e.Message}\n--- last lines of {LogFile} ---\n{TailLog()}");
            }
        }
        _startedByUs = true;

        await WaitForConnectionsAsync(ct);
        Passwords = LoadOrCreatePasswords();
        await ProvisionAsync(ct);
        Console.WriteLine($"[postgres] Ready: databases {string.Join(", ", Databases)}, each with an owner role (migrations) and a runtime role (DML only).");
    }

    /// <summary>Fast shutdown (rolls back open transactions, checkpoints, exits cleanly).</summary>
    public async Task StopAsync()
    {
        if (!_startedByUs) return;
        _startedByUs = false;
        // The services are stopped by Aspire's orchestrator in the background; let them finish their in-flight
        // work and close their connections before the database goes away (a PENDING order would survive anyway).
        await WaitForServicesToDisconnectAsync(TimeSpan.FromSeconds(20));
        Console.WriteLine("[postgres] Stopping PostgreSQL...");
        try
        {
            await RunPgAsync("pg_ctl", ["-D", DataDir, "-m", "fast", "-w", "-t", "60", "stop"], CancellationToken.None);
            Console.WriteLine("[postgres] Stopped.");
        }
        catch (LocalPostgresException e)
        {
            Console.Error.WriteLine($"[postgres] Stop failed: {e.Message}");
        }
    }

    private async Task WaitForServicesToDisconnectAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var announced = false;
        try
        {
            while (true)
            {
                await using var connection = new NpgsqlConnection(AdminConnectionString);
                await connection.OpenAsync();
                var clients = await ScalarAsync<long>(connection,
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY($1::text[])", CancellationToken.None, (object)Roles.ToArray());
                if (clients == 0 || DateTime.UtcNow > deadline) return;
                if (!announced) Console.WriteLine("[postgres] Waiting for the services to stop and disconnect...");
                announced = true;
                await Task.Delay(250);
            }
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            // Server already gone or unreachable: nothing to wait for.
        }
    }

    public async Task<bool> IsHealthyAsync(CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(AdminConnectionString);
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(ct);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return false;
        }
    }

    private async Task<(bool Running, int? Port)> StatusAsync(CancellationToken ct)
    {
        var pidFile = Path.Combine(DataDir, "postmaster.pid");
        if (!File.Exists(pidFile)) return (false, null);
        var (code, _) = await TryRunPgAsync("pg_ctl", ["-D", DataDir, "status"], ct);
        if (code != 0) return (false, null);
        var lines = await File.ReadAllLinesAsync(pidFile, ct);
        return (true, lines.Length > 3 && int.TryParse(lines[3], out var p) ? p : null);
    }

    private async Task WaitForConnectionsAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await IsHealthyAsync(ct))
        {
            if (DateTime.UtcNow > deadline)
                throw new LocalPostgresException($"PostgreSQL did not accept connections within 60 s.\n--- last lines of {LogFile} ---\n{TailLog()}");
            await Task.Delay(250, ct);
        }
    }

    private Dictionary<string, string> LoadOrCreatePasswords()
    {
        var file = Path.Combine(RootDir, "credentials.json");
        var passwords = File.Exists(file)
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(file)) ?? []
            : [];
        var changed = false;
        foreach (var role in Roles)
        {
            if (passwords.TryGetValue(role, out var existing) && existing.Length >= 16) continue;
            passwords[role] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            changed = true;
        }
        if (changed)
        {
            var tmp = file + ".tmp";
            File.WriteAllText(tmp, "");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(tmp, JsonSerializer.Serialize(passwords, new JsonSerializerOptions { WriteIndented = true }));
            File.Move(tmp, file, overwrite: true);
        }
        return passwords;
    }

    /// <summary>
    /// Idempotent: each database is created when missing, then deploy/postgres/provision-roles.sql (the statements
    /// the tests and the containers run too) gives it its owner and runtime roles. A cluster from before owner roles
    /// (tables owned by the runtime role) is converted in place: the script reassigns them to the owner.
    /// CREATE DATABASE takes no parameters, so it is built server-side with format(%I).
    /// </summary>
    private async Task ProvisionAsync(CancellationToken ct)
    {
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync(ct);
            foreach (var db in Databases)
                if (!await ScalarAsync<bool>(connection, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", ct, db))
                    await ExecuteFormattedAsync(connection, "SELECT format('CREATE DATABASE %I ENCODING ''UTF8''', $1::text)", ct, db);
        }

        foreach (var db in Databases)
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = db }.ConnectionString);
            await connection.OpenAsync(ct);
            await ScalarAsync<object>(connection,
                "SELECT set_config('oms.database', $1, false), set_config('oms.owner_password', $2, false), " +
                "set_config('oms.runtime_password', $3, false), set_config('oms.statement_timeout', $4, false)",
                ct, db, Passwords[OwnerRole(db)], Passwords[db], _statementTimeout);
            await using var provision = new NpgsqlCommand(ProvisionRolesSql.Value, connection);
            await provision.ExecuteNonQueryAsync(ct);
        }
    }

    // deploy/postgres/provision-roles.sql, embedded (see Oms.AppHost.csproj).
    private static readonly Lazy<string> ProvisionRolesSql = new(() =>
    {
        using var stream = typeof(LocalPostgres).Assembly.GetManifestResourceStream("provision-roles.sql")
            ?? throw new InvalidOperationException("provision-roles.sql is not embedded in the AppHost.");
        return new StreamReader(stream).ReadToEnd();
    });

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken ct, params object[] args)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var a in args) command.Parameters.Add(new NpgsqlParameter { Value = a });
        return (T)(await command.ExecuteScalarAsync(ct))!;
    }

    private static async Task ExecuteFormattedAsync(NpgsqlConnection connection, string formatSql, CancellationToken ct, params object[] args)
    {
        var statement = await ScalarAsync<string>(connection, formatSql, ct, args);
        await using var command = new NpgsqlCommand(statement, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    private async Task CheckPostgresUserCanReachAsync(CancellationToken ct)
    {
        var (code, _) = await TryRunAsync("id", ["-u", "postgres"], ct);
        if (code != 0)
            throw new LocalPostgresException("Running as root, but there is no 'postgres' user to run PostgreSQL as (PostgreSQL refuses to run as root). Install the postgresql package or run as a normal user.");
        var (reach, _) = await TryRunAsync("runuser", ["-u", "postgres", "--", "test", "-x", RootDir], ct);
        if (reach != 0)
            throw new LocalPostgresException($"The 'postgres' user cannot enter {RootDir} (a parent folder is not searchable by others). Set OMS_POSTGRES_DIR to a folder it can reach.");
    }

    private string TailLog()
    {
        try { return string.Join('\n', File.ReadLines(LogFile).TakeLast(15)); }
        catch (IOException) { return "(no log)"; }
        catch (UnauthorizedAccessException) { return "(log unreadable)"; }
    }

    private async Task RunPgAsync(string tool, string[] args, CancellationToken ct)
    {
        var (code, output) = await TryRunPgAsync(tool, args, ct);
        if (code != 0) throw new LocalPostgresException($"{tool} exited with code {code}: {output.Trim()}");
    }

    private Task<(int, string)> TryRunPgAsync(string tool, string[] args, CancellationToken ct)
    {
        var path = Path.Combine(_binDir, tool);
        return _asPostgresUser ? TryRunAsync("runuser", ["-u", "postgres", "--", path, .. args], ct) : TryRunAsync(path, args, ct);
    }

    private static async Task RunAsync(string file, string[] args, CancellationToken ct)
    {
        var (code, output) = await TryRunAsync(file, args, ct);
        if (code != 0) throw new LocalPostgresException($"{file} exited with code {code}: {output.Trim()}");
    }

    internal static async Task<(int ExitCode, string Output)> TryRunAsync(string file, string[] args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await stderr + await stdout);
    }
}

public sealed class LocalPostgresException(string message) : Exception(message);
