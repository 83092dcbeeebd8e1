using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace Oms.Testing;

/// <summary>
/// A real, throwaway PostgreSQL server for tests: started from the machine's binaries in a temp
/// folder (as the <c>postgres</c> user when we run as root, since PostgreSQL refuses root), or the
/// server named by <c>OMS_TEST_POSTGRES</c> (a superuser connection string) when set.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string? _dataDir;
    private string? _binDir;
    private bool _asPostgresUser;
    private int _databaseCounter;

    public int Port { get; private set; }

    /// <summary>Superuser connection string to the <c>postgres</c> database.</summary>
    public string AdminConnectionString { get; private set; } = "";

    public bool IsExternal { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable("OMS_TEST_POSTGRES");
        if (!string.IsNullOrWhiteSpace(external))
        {
            IsExternal = true;
            AdminConnectionString = external;
            return;
        }

        _binDir = FindBinDir() ?? throw new InvalidOperationException(
            "PostgreSQL binaries (initdb, pg_ctl) were not found. Install them (apt-get install postgresql) or set OMS_TEST_POSTGRES.");
        _asPostgresUser = Environment.UserName == "root";
        _dataDir = Directory.CreateTempSubdirectory("oms-test-pg-").FullName;
        if (_asPostgresUser) await RunAsync("chown", ["postgres", _dataDir]);
        Port = FreePort();

        await RunPgAsync("initdb", ["-D", _dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        await StartAsync();
        AdminConnectionString = $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";
    }

    /// <summary>(Re)starts the server on the same port and data folder.</summary>
    public Task StartAsync() => RunPgAsync("pg_ctl", ["-D", _dataDir!, "-w", "-t", "60", "-l", Path.Combine(_dataDir!, "server.log"), "-o",
        $"-p {Port} -k {_dataDir} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off",
        "start"]);

    /// <summary>SIGKILL the postmaster, as a crash would (for fault tests). Children exit when it dies.</summary>
    public async Task KillAsync()
    {
        var pidFile = Path.Combine(_dataDir!, "postmaster.pid");
        var pid = int.Parse((await File.ReadAllLinesAsync(pidFile))[0]);
        Process.GetProcessById(pid).Kill();
        for (var i = 0; i < 100 && IsAlive(pid); i++) await Task.Delay(50);
    }

    /// <summary>Creates a fresh, empty database and returns a connection string for it.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Interlocked.Increment(ref _databaseCounter)}_{Guid.NewGuid():N}".ToLowerInvariant();
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    /// <summary>
    /// Creates a fresh database with the production layout (deploy/postgres/provision-roles.sql): an owner role
    /// <c>&lt;name&gt;_owner</c> that owns it and runs migrations, and a runtime role <c>&lt;name&gt;</c> with DML only.
    /// </summary>
    public async Task<ServiceDatabase> CreateServiceDatabaseAsync(string prefix, string statementTimeout = "10s")
    {
        var admin = await CreateDatabaseAsync(prefix);
        var name = new NpgsqlConnectionStringBuilder(admin).Database!;
        string ownerPassword = NewPassword(), runtimePassword = NewPassword();
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString))
        {
            await connection.OpenAsync();
            await using (var settings = new NpgsqlCommand(
                "SELECT set_config('oms.database', $1, false), set_config('oms.owner_password', $2, false), " +
                "set_config('oms.runtime_password', $3, false), set_config('oms.statement_timeout', $4, false)", connection))
            {
                foreach (var value in new[] { name, ownerPassword, runtimePassword, statementTimeout })
                    settings.Parameters.Add(new NpgsqlParameter { Value = value });
                await settings.ExecuteNonQueryAsync();
            }
            await using var provision = new NpgsqlCommand(ProvisionRolesSql.Value, connection);
            await provision.ExecuteNonQueryAsync();
        }
        string As(string role, string password) =>
            new NpgsqlConnectionStringBuilder(admin) { Username = role, Password = password }.ConnectionString;
        return new ServiceDatabase(name, admin, As(name, runtimePassword), As(name + "_owner", ownerPassword));
    }

    private static string NewPassword() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    // deploy/postgres/provision-roles.sql, embedded (see Oms.Testing.csproj): the statements production runs.
    private static readonly Lazy<string> ProvisionRolesSql = new(() =>
    {
        using var stream = typeof(PostgresServer).Assembly.GetManifestResourceStream("provision-roles.sql")
            ?? throw new InvalidOperationException("provision-roles.sql is not embedded in Oms.Testing.");
        return new StreamReader(stream).ReadToEnd();
    });

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (IsExternal || _dataDir is null) return;
        try { await RunPgAsync("pg_ctl", ["-D", _dataDir, "-m", "immediate", "-w", "stop"]); }
        catch (InvalidOperationException) { /* already down */ }
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static bool IsAlive(int pid)
    {
        try { return !Process.GetProcessById(pid).HasExited; }
        catch (ArgumentException) { return false; }
    }

    private Task RunPgAsync(string tool, string[] args)
    {
        var path = Path.Combine(_binDir!, tool);
        return _asPostgresUser ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args]) : RunAsync(path, args);
    }

    private static async Task RunAsync(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}{await stdout}");
    }

    public static string? FindBinDir()
    {
        var candidates = new List<string>();
        candidates.AddRange(Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d).Select(d => Path.Combine(d, "bin"))
            : []);
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// A service's database as production lays it out: <see cref="Runtime"/> is what the service connects as,
/// <see cref="Owner"/> what it migrates as; <see cref="Admin"/> (superuser) is for the tests' own checks.
/// </summary>
public sealed record ServiceDatabase(string Name, string Admin, string Runtime, string Owner)
{
    /// <summary>The settings a service reads: ConnectionStrings:&lt;key&gt; and ConnectionStrings:&lt;key&gt;_owner.</summary>
    /// <param name="separator">":" for configuration keys, "__" for environment variables.</param>
    public Dictionary<string, string> Settings(string key, string separator = ":") => new()
    {
        [$"ConnectionStrings{separator}{key}"] = Runtime,
        [$"ConnectionStrings{separator}{key}_owner"] = Owner,
    };

    /// <summary>The same database with the runtime role's connection string changed (e.g. its pool size).</summary>
    public ServiceDatabase WithRuntime(Action<NpgsqlConnectionStringBuilder> change)
    {
        var builder = new NpgsqlConnectionStringBuilder(Runtime);
        change(builder);
        return this with { Runtime = builder.ConnectionString };
    }
}
