using System.Runtime.InteropServices;
using Npgsql;
using Oms.Testing;

namespace Oms.Chaos;

/// <summary>
/// The throwaway PostgreSQL of <see cref="PostgresServer"/> (synchronous_commit on, its default: an acknowledged
/// commit survives a crash), plus a crash that takes the whole server down: SIGKILL of the postmaster
/// and of every backend, so no orphaned backend can still commit after "the database died".
/// </summary>
public sealed class ChaosPostgres : IAsyncDisposable
{
    private readonly PostgresServer _server = new();
    private string _dataDirectory = "";

    public string AdminConnectionString => _server.AdminConnectionString;

    public async Task StartAsync()
    {
        await _server.InitializeAsync();
        if (_server.IsExternal)
            throw new InvalidOperationException("The chaos run kills PostgreSQL: it needs its own server, unset OMS_TEST_POSTGRES.");
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT current_setting('data_directory'), current_setting('synchronous_commit')", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        _dataDirectory = reader.GetString(0);
        if (reader.GetString(1) != "on")
            throw new InvalidOperationException($"synchronous_commit is '{reader.GetString(1)}': a crash could lose acknowledged commits.");
    }

    /// <summary>Creates a service database with its owner and runtime roles; the runtime string is pooled and bounded.</summary>
    public async Task<ServiceDatabase> CreateDatabaseAsync(string name) =>
        (await _server.CreateServiceDatabaseAsync(name)).WithRuntime(b => { b.MaxPoolSize = 60; b.Timeout = 5; b.CommandTimeout = 15; });

    /// <summary>
    /// SIGSTOP the postmaster and every backend first (frozen: none can answer or commit any more), then SIGKILL them
    /// all: a crash of the whole server at one instant. Returns once none of them runs.
    /// </summary>
    public async Task KillAsync()
    {
        var pid = int.Parse((await File.ReadAllLinesAsync(Path.Combine(_dataDirectory, "postmaster.pid")))[0]);
        var tree = new List<int> { pid };
        Signal(pid, SigStop);
        for (var round = 0; round < 3; round++) // catch anything forked while we walked the tree
            foreach (var child in Descendants(pid).Where(c => !tree.Contains(c)))
            {
                Signal(child, SigStop);
                tree.Add(child);
            }
        foreach (var p in tree) Signal(p, SigKill);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (tree.Any(IsAlive) && DateTime.UtcNow < deadline) await Task.Delay(20);
        NpgsqlConnection.ClearAllPools();
    }

    private const int SigKill = 9, SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    private static void Signal(int pid, int signal) => _ = SysKill(pid, signal);

    /// <summary>Restarts on the same port and data (crash recovery replays the WAL); retried while old memory is released.</summary>
    public async Task RestartAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _server.StartAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 10)
            {
                await Task.Delay(500);
            }
        }
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var p)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1]);
                if (!children.TryGetValue(parent, out var list)) children[parent] = list = [];
                list.Add(p);
            }
            catch (IOException) { }
        }
        var stack = new Stack<int>([pid]);
        while (stack.Count > 0)
            foreach (var child in children.GetValueOrDefault(stack.Pop()) ?? [])
            {
                yield return child;
                stack.Push(child);
            }
    }

    // A zombie (state Z) is dead: it holds no memory and no connection.
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] != 'Z';
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
