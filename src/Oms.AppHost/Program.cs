// The local runner: `dotnet run --project src/Oms.AppHost`.
// PostgreSQL in a container when a container runtime answers, else a private server from the machine's
// PostgreSQL binaries; then the three services on 8001-8003 (and 9002-9003, internal h2c), each with its own database,
// connected as its runtime role X (DML only) and migrating as its owner role X_owner (deploy/postgres/provision-roles.sql).
// RabbitMQ for the order service's events the same way (EventsBroker.cs): container, else a private node, else none.
// Last the operator console on 8000, pointed at the three services' public APIs (with an API key once keys are configured).
using System.Security.Cryptography;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Oms.AppHost;

// --- Choose where PostgreSQL comes from (OMS_POSTGRES_MODE = auto | container | local). ---
var mode = (Environment.GetEnvironmentVariable("OMS_POSTGRES_MODE") ?? "auto").Trim().ToLowerInvariant();
if (mode is not ("auto" or "container" or "local"))
    return Fail($"OMS_POSTGRES_MODE must be auto, container or local (got '{mode}').");

// Aspire's health checks would happily report someone else's service as ours: refuse to start on busy ports.
int[] fixedPorts = [8000, 8001, 8002, 8003, 9002, 9003, 18888, 18889, 18890];
var busy = fixedPorts.Where(PortIsInUse).ToArray();
if (busy.Length > 0)
    return Fail($"port(s) {string.Join(", ", busy)} already in use on localhost (another instance of the system still running?). Stop it first.");

string? runtime = null;
if (mode != "local")
{
    runtime = await ContainerRuntime.DetectAsync(TimeSpan.FromSeconds(5));
    if (runtime is null && mode == "container")
        return Fail("OMS_POSTGRES_MODE=container, but neither 'docker info' nor 'podman info' answered. Start Docker or Podman.");
    // Make Aspire use the runtime that answered (it would default to docker).
    if (runtime is not null) Environment.SetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME", runtime);
}

var builder = DistributedApplication.CreateBuilder(args);
var repoRoot = FindRepoRoot(builder.AppHostDirectory);

// --- PostgreSQL: three databases; per database X, ConnectionStrings:X (runtime role) and X_owner (owner role). ---
LocalPostgres? localPostgres = null;
IResourceBuilder<IResource> database;
var connectionStrings = new Dictionary<string, IResourceBuilder<IResourceWithConnectionString>>(); // by role name
var statementTimeout = Environment.GetEnvironmentVariable("OMS_DB_STATEMENT_TIMEOUT") is { Length: > 0 } st ? st.Trim() : "10s";
var containerImage = Environment.GetEnvironmentVariable("OMS_POSTGRES_IMAGE") is { Length: > 0 } ci ? ci.Trim() : "postgres:15";
// Container mode's data volume, named for the image's major version (whose data format it holds).
const string ContainerDataVolume = "oms-postgres15-data";
var containerStartTimeout = TimeSpan.FromSeconds(
    int.TryParse(Environment.GetEnvironmentVariable("OMS_POSTGRES_START_TIMEOUT"), out var cst) && cst > 0 ? cst : 180);

if (runtime is not null)
{
    Console.WriteLine($"Container runtime '{runtime}' is healthy: PostgreSQL runs in a container ({containerImage}, data volume '{ContainerDataVolume}').");
    // Aspire would wait for ever on an image that cannot be pulled: make sure it is there first, within a bound.
    if (await ContainerRuntime.EnsureImageAsync(runtime, containerImage, containerStartTimeout) is { } pullError)
        return Fail($"the PostgreSQL image {containerImage} is not available: {pullError}\n" +
            $"Make it available (docker pull {containerImage}, or build a local image of that name), or run without containers: OMS_POSTGRES_MODE=local.");
    var (imageName, imageTag) = ContainerRuntime.SplitImage(containerImage);
    var initDirectory = Path.Combine(repoRoot, "deploy", "postgres");
    // The same image and init script as docker-compose.yml: on the volume's first start the script creates the three
    // databases and their roles (passwords generated once, kept in the AppHost's user secrets like the superuser's).
    var postgres = builder.AddPostgres("postgres")
        .WithImageRegistry(null)
        .WithImage(imageName, imageTag)
        .WithDataVolume(ContainerDataVolume)
        .WithInitFiles(Path.Combine(initDirectory, "init-roles.sh"))
        .WithContainerFiles("/oms", Path.Combine(initDirectory, "provision-roles.sql"))
        .WithEnvironment("OMS_DATABASES", string.Join(' ', LocalPostgres.Databases))
        .WithEnvironment("OMS_DB_STATEMENT_TIMEOUT", statementTimeout);
    var endpoint = postgres.GetEndpoint("tcp");
    foreach (var db in LocalPostgres.Databases)
        foreach (var role in new[] { db, LocalPostgres.OwnerRole(db) })
        {
            var password = builder.AddParameter($"{ResourceName(role)}-password",
                new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
            // init-roles.sh reads ORDERS_DB_PASSWORD (runtime) and ORDERS_DB_OWNER_PASSWORD (owner), as in compose.
            postgres.WithEnvironment(db.ToUpperInvariant() + (role == db ? "_DB_PASSWORD" : "_DB_OWNER_PASSWORD"), password);
            connectionStrings[role] = builder.AddConnectionString($"{ResourceName(role)}-db", ReferenceExpression.Create(
                $"Host={endpoint.Property(EndpointProperty.Host)};Port={endpoint.Property(EndpointProperty.Port)};Database={db};Username={role};Password={password}"));
        }
    database = postgres;
    // A start that fails or times out is reported by StartWithContainerAsync in one clear message; the host's own
    // "Hosting failed to start" error with its stack trace would only bury it.
    builder.Services.AddLogging(logging => logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host",
        level => !ContainerStart.InProgress && level >= LogLevel.Information));
}
else
{
    var binDir = LocalPostgres.FindBinDir();
    if (binDir is null)
        return Fail("""
            No container runtime answered (docker/podman) and no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found
            in /usr/lib/postgresql/*/bin or on PATH. Install one of them, for example:
              - PostgreSQL:  sudo apt-get install postgresql        (Debian/Ubuntu; the AppHost runs its own private server)
              - or Docker / Podman, running (so that 'docker info' or 'podman info' succeeds)
            """);
    var port = int.TryParse(Environment.GetEnvironmentVariable("OMS_POSTGRES_PORT"), out var p) ? p : 5433;
    var dir = Environment.GetEnvironmentVariable("OMS_POSTGRES_DIR") is { Length: > 0 } d ? d : await DefaultDataDirAsync(repoRoot);
    Console.WriteLine("No container runtime answered: running a private PostgreSQL server from the machine's binaries.");
    localPostgres = new LocalPostgres(binDir, dir, port, statementTimeout);
    try
    {
        await localPostgres.StartAsync(CancellationToken.None);
    }
    catch (LocalPostgresException e)
    {
        await localPostgres.StopAsync();
        return Fail(e.Message);
    }

    var pg = localPostgres;
    builder.Services.AddHealthChecks().AddAsyncCheck("postgres-local", async ct =>
        await pg.IsHealthyAsync(ct) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("PostgreSQL does not answer."));
    database = builder.AddResource<IResource>(new LocalPostgresServerResource("postgres"))
        .WithInitialState(new CustomResourceSnapshot
        {
            ResourceType = "PostgreSQL (local)",
            State = new ResourceStateSnapshot(KnownResourceStates.Running, KnownResourceStateStyles.Success),
            StartTimeStamp = DateTime.UtcNow,
            Properties =
            [
                new ResourcePropertySnapshot("Port", pg.Port),
                new ResourcePropertySnapshot("Data folder", pg.DataDir),
                new ResourcePropertySnapshot("Log file", pg.LogFile),
            ],
        })
        .WithHealthCheck("postgres-local");

    foreach (var db in LocalPostgres.Databases)
        foreach (var role in new[] { db, LocalPostgres.OwnerRole(db) })
        {
            var password = builder.AddParameter($"{ResourceName(role)}-password", pg.Passwords[role], publishValueAsDefault: false, secret: true);
            var withoutPassword = $"Host=127.0.0.1;Port={pg.Port};Database={db};Username={role}";
            connectionStrings[role] = builder.AddConnectionString($"{ResourceName(role)}-db", ReferenceExpression.Create($"{withoutPassword};Password={password}"));
        }
}

// --- RabbitMQ (OMS_RABBITMQ_MODE = auto | container | local | off): only the order service gets ConnectionStrings:events. ---
EventsBroker broker;
try
{
    broker = await EventsBroker.AddAsync(builder, runtime, repoRoot);
}
catch (EventsBrokerException e)
{
    if (localPostgres is not null) await localPostgres.StopAsync();
    return Fail(e.Message);
}

// --- The service token: from the environment, else a fresh one, printed once here and nowhere else. ---
var tokenFromEnvironment = Environment.GetEnvironmentVariable("OMS_SERVICE_TOKEN");
var tokenGenerated = string.IsNullOrWhiteSpace(tokenFromEnvironment);
var token = tokenGenerated ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : tokenFromEnvironment!.Trim();
if (tokenGenerated)
{
    Console.WriteLine();
    Console.WriteLine("OMS_SERVICE_TOKEN was not set; generated one for this run:");
    Console.WriteLine($"  OMS_SERVICE_TOKEN={token}");
    Console.WriteLine("  (internal endpoints need 'Authorization: Bearer <token>'; export OMS_SERVICE_TOKEN to choose your own)");
    Console.WriteLine();
}
else
{
    Console.WriteLine("Using OMS_SERVICE_TOKEN from the environment.");
}
var serviceToken = builder.AddParameter("oms-service-token", token, publishValueAsDefault: false, secret: true);

// --- The console's API key: none while the public endpoints are open (ConsoleApiKey.cs). ---
ConsoleApiKey consoleKey;
try
{
    consoleKey = ConsoleApiKey.FromEnvironment();
}
catch (ConsoleApiKeyException e)
{
    await Task.WhenAll(localPostgres?.StopAsync() ?? Task.CompletedTask, broker.StopAsync());
    return Fail(e.Message);
}

// --- The three services, on fixed ports (no launch profile: the ports come from here, not from Kestrel's 5000). ---
IResourceBuilder<ProjectResource> Service<TProject>(string name, int port) where TProject : IProjectMetadata, new() =>
    builder.AddProject<TProject>(name, o => o.ExcludeLaunchProfile = true)
        .WithHttpEndpoint(port: port, isProxied: false)
        .WithUrl("http://localhost:" + port + "/docs", "Swagger UI")
        .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
        .WithEnvironment("OMS_SERVICE_TOKEN", serviceToken)
        .WithReference(connectionStrings[name], connectionName: name)
        .WithReference(connectionStrings[LocalPostgres.OwnerRole(name)], connectionName: LocalPostgres.OwnerRole(name))
        .WithHttpHealthCheck("/health/ready")
        .WithEnvironment(context =>
        {
            foreach (var (key, value) in consoleKey.ServiceEnvironment) context.EnvironmentVariables[key] = value;
        })
        .WaitFor(database);

// Inventory and payments also listen on an internal HTTP/2-cleartext endpoint (InternalUrls, not an Aspire
// endpoint: Aspire would add it to ASPNETCORE_URLS as HTTP/1.1); the order service calls them there.
var inventory = Service<Projects.Inventory_Api>("inventory", 8002).WithEnvironment("InternalUrls", "http://localhost:9002");
var payments = Service<Projects.Payments_Api>("payments", 8003).WithEnvironment("InternalUrls", "http://localhost:9003");
var orders = broker.ReferencedBy(Service<Projects.Orders_Api>("orders", 8001))
    .WithEnvironment("Saga__InventoryUrl", "http://localhost:9002")
    .WithEnvironment("Saga__PaymentUrl", "http://localhost:9003")
    .WithEnvironment("Saga__Http2", "true")
    .WaitFor(inventory)
    .WaitFor(payments);

// The operator console: only the services' public URLs (never a database), started once they are ready.
// Development, like the services: a build output (not a publish) serves its static web assets only there.
var operatorConsole = builder.AddProject<Projects.Oms_Console>("console", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint(port: 8000, isProxied: false)
    .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
    .WithEnvironment("Services__Orders", "http://localhost:8001")
    .WithEnvironment("Services__Inventory", "http://localhost:8002")
    .WithEnvironment("Services__Payments", "http://localhost:8003")
    .WithHttpHealthCheck("/health/ready")
    .WaitFor(orders)
    .WaitFor(inventory)
    .WaitFor(payments);
if (consoleKey.Key is not null)
    operatorConsole.WithEnvironment("Console__ApiKey", builder.AddParameter("console-api-key", consoleKey.Key, publishValueAsDefault: false, secret: true));

DistributedApplication? app = null;
try
{
    app = builder.Build();
    if (runtime is not null && await StartWithContainerAsync(app, containerStartTimeout) is { } failure)
        return Fail($"{failure}\nThe container's log: docker logs $(docker ps -aq --filter name=postgres- | head -1)\n" +
            "Or run without containers: OMS_POSTGRES_MODE=local.");
    if (runtime is null) await app.StartAsync();
    _ = PrintUrlsWhenReadyAsync(app, tokenGenerated, broker.Banner, consoleKey.Banner);
    await app.WaitForShutdownAsync();
}
catch (OperationCanceledException)
{
    // Ctrl-C while the orchestrator was still starting: shut down quietly.
}
finally
{
    if (app is not null) await app.DisposeAsync();
    await Task.WhenAll(localPostgres?.StopAsync() ?? Task.CompletedTask, broker.StopAsync());
}
return 0;

// Starts the application and waits, within a bound, for the PostgreSQL container to be healthy. Returns null when
// it is, else what went wrong: the caller exits with that message instead of hanging or printing a stack trace.
static async Task<string?> StartWithContainerAsync(DistributedApplication app, TimeSpan timeout)
{
    using var bounded = new CancellationTokenSource(timeout);
    ContainerStart.InProgress = true;
    var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
    string? lastState = null;
    try
    {
        await app.StartAsync(bounded.Token);
        var settled = await notifications.WaitForResourceAsync("postgres", e =>
        {
            lastState = e.Snapshot.State?.Text;
            return e.Snapshot.HealthStatus == HealthStatus.Healthy
                || lastState == KnownResourceStates.FailedToStart || lastState == KnownResourceStates.Exited
                || lastState == KnownResourceStates.Finished;
        }, bounded.Token);
        return settled.Snapshot.HealthStatus == HealthStatus.Healthy ? null : $"the PostgreSQL container did not start (state: {lastState}).";
    }
    catch (OperationCanceledException) when (bounded.IsCancellationRequested)
    {
        return $"the PostgreSQL container was not healthy within {timeout.TotalSeconds:0} s (state: {lastState ?? "not started"}; OMS_POSTGRES_START_TIMEOUT sets the bound).";
    }
    catch (Exception e) when (e is not OperationCanceledException)
    {
        return $"the orchestrator could not start the PostgreSQL container: {e.GetBaseException().Message}";
    }
    finally
    {
        ContainerStart.InProgress = false;
    }
}

// Aspire resource names allow letters, digits and hyphens only.
static string ResourceName(string role) => role.Replace('_', '-');

static async Task PrintUrlsWhenReadyAsync(DistributedApplication app, bool tokenGenerated, string events, string consoleAccess)
{
    var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
    var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
    try
    {
        foreach (var name in new[] { "inventory", "payments", "orders", "console" })
            await notifications.WaitForResourceHealthyAsync(name, stopping);
    }
    catch (OperationCanceledException)
    {
        return;
    }

    var config = app.Services.GetRequiredService<IConfiguration>();
    var dashboard = (config["ASPNETCORE_URLS"] ?? "http://localhost:18888").Split(';')[0].TrimEnd('/');
    var browserToken = config["AppHost:BrowserToken"];
    Console.WriteLine($"""

        ================ Order management system is running ================
          Console    http://localhost:8000   orders, timelines, stock, live overview ({consoleAccess})
          Orders     http://localhost:8001   API docs: http://localhost:8001/docs
          Inventory  http://localhost:8002   API docs: http://localhost:8002/docs
          Payments   http://localhost:8003   API docs: http://localhost:8003/docs
          Health     /health/ready and /health/live, metrics at /metrics on each service
          Token      OMS_SERVICE_TOKEN {(tokenGenerated ? "generated for this run: printed above" : "taken from your environment")}
          Events     {events}
          Dashboard  {(string.IsNullOrEmpty(browserToken) ? dashboard : $"{dashboard}/login?t={browserToken}")}
          Stop       Ctrl-C (stops the console, the services, PostgreSQL and RabbitMQ)
        =====================================================================

        """);
}

static bool PortIsInUse(int port)
{
    foreach (var address in new[] { System.Net.IPAddress.Loopback, System.Net.IPAddress.IPv6Loopback })
    {
        using var client = new System.Net.Sockets.TcpClient(address.AddressFamily);
        try
        {
            if (client.ConnectAsync(address, port).Wait(TimeSpan.FromMilliseconds(500))) return true;
        }
        catch (AggregateException) { } // refused: free
        catch (System.Net.Sockets.SocketException) { } // no IPv6 on this machine
    }
    return false;
}

static string FindRepoRoot(string start)
{
    for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Oms.slnx"))) return dir.FullName;
    return Path.GetFullPath(Path.Combine(start, "..", ".."));
}

static int Fail(string message)
{
    Console.Error.WriteLine();
    Console.Error.WriteLine($"Cannot start the order management system: {message}");
    return 1;
}

// .data/postgres in the repository, unless we run as root and the postgres user cannot reach the clone
// (e.g. under /root or a 0700 temp folder): then a folder of its own under /var/lib, one per clone.
static async Task<string> DefaultDataDirAsync(string repoRoot)
{
    var local = Path.Combine(repoRoot, ".data", "postgres");
    if (Environment.UserName != "root") return local;
    var (reach, _) = await LocalPostgres.TryRunAsync("runuser", ["-u", "postgres", "--", "test", "-x", repoRoot], CancellationToken.None);
    if (reach == 0) return local;
    var id = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(repoRoot)))[..12];
    var shared = Path.Combine("/var/lib/oms-postgres", id);
    Console.WriteLine($"[postgres] The postgres user cannot enter {repoRoot}; keeping the data in {shared} instead (OMS_POSTGRES_DIR overrides).");
    return shared;
}

internal static class ContainerStart
{
    /// <summary>True while the container-mode start is being waited for (see the log filter in container mode).</summary>
    public static volatile bool InProgress;
}

/// <summary>The private PostgreSQL server, shown in the dashboard; its lifetime is managed by <see cref="LocalPostgres"/>.</summary>
internal sealed class LocalPostgresServerResource(string name) : Resource(name);
