using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Oms.Testing;

namespace Oms.Chaos;

/// <summary>
/// One chaos run: PostgreSQL + two replicas each of orders, inventory and payment (+ a RabbitMQ node the order replicas
/// publish to) as real processes, each order replica reaching both inventory and both payment replicas (service
/// discovery from configuration, round-robin); a bounded concurrent stream of orders while each process in turn is SIGKILLed at a random moment and
/// restarted; then the drain (the recovery worker finishes every PENDING order, the relay empties the outbox) and the
/// invariants, checked in the databases and against what a consumer of <c>oms.events</c> received.
/// </summary>
public static class ChaosRunner
{
    private const string OrdersA = "orders-a", OrdersB = "orders-b", InventoryA = "inventory-a", InventoryB = "inventory-b",
        PaymentA = "payment-a", PaymentB = "payment-b", Postgres = "postgres", Broker = "rabbitmq";

    /// <summary>
    /// Kill order: a replica of each service, PostgreSQL, the other replica of each service, the broker (when one runs), and again.
    /// </summary>
    private static string[] Targets(ChaosOptions options) =>
        [OrdersA, InventoryA, PaymentA, Postgres, OrdersB, InventoryB, PaymentB, .. options.Broker ? new[] { Broker } : []];

    /// <summary>The replicas of the service a process belongs to (itself for PostgreSQL and the broker).</summary>
    private static string[] ServiceOf(string target) => target switch
    {
        InventoryA or InventoryB => [InventoryA, InventoryB],
        PaymentA or PaymentB => [PaymentA, PaymentB],
        OrdersA or OrdersB => [OrdersA, OrdersB],
        _ => [target],
    };

    /// <summary>The routes the order service calls on inventory and payment: what their replicas count as saga calls served.</summary>
    private static readonly string[] SagaRoutes = ["/api/v1/stock/reserve", "/api/v1/stock/release", "/api/v1/payments/authorize", "/api/v1/payments/void"];

    public static async Task<ChaosResult> RunAsync(ChaosOptions options, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Orders, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Kills);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.LinesMax, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.LinesMax, ChaosOptions.MaxLines);
        if (options.CancelShare is not (>= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(options), "CancelShare is a share: 0 to 1.");
        var seed = options.Seed ?? Random.Shared.Next();
        var random = new Random(seed);
        var logDirectory = options.LogDirectory ?? Directory.CreateTempSubdirectory("oms-chaos-").FullName;
        Directory.CreateDirectory(logDirectory);
        var result = new ChaosResult { Seed = seed, OrdersPlanned = options.Orders, LogDirectory = logDirectory, Broker = options.Broker };
        var log = options.Log ?? TextWriter.Null;
        var total = Stopwatch.StartNew();
        void Say(string message) => log.WriteLine($"[{total.Elapsed.TotalSeconds,6:0.0}s] {message}");

        var configuration = options.Configuration ?? typeof(ChaosRunner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Debug";
        var root = RepoRoot();
        string Dll(string project) => Path.Combine(root, "src", project, "bin", configuration, "net10.0", $"{project}.dll");
        foreach (var project in new[] { "Orders.Api", "Inventory.Api", "Payments.Api" })
            if (!File.Exists(Dll(project)))
                throw new FileNotFoundException($"{Dll(project)} is missing: build the services first (dotnet build -c {configuration}).");

        await using var pg = new ChaosPostgres();
        var services = new Dictionary<string, ServiceProcess>();
        RabbitMqNode? broker = null;
        EventTap? tap = null;
        try
        {
            Say($"seed {seed}; starting PostgreSQL; service logs in {logDirectory}");
            await pg.StartAsync();
            var ordersDb = await pg.CreateDatabaseAsync("orders");
            var inventoryDb = await pg.CreateDatabaseAsync("inventory");
            var paymentsDb = await pg.CreateDatabaseAsync("payments");
            if (options.Broker)
            {
                broker = await RabbitMqNode.StartAsync();
                // Bound before any order service runs, so that no event is published before the consumer's queue exists.
                tap = await EventTap.StartAsync(broker.AmqpUri);
                await broker.SettleAsync(); // the consumer's queue exists before the first kill (RabbitMqNode.SettleAsync)
                Say($"RabbitMQ node {broker.NodeName} on :{broker.Port} (data and logs in {broker.Directory}); consumer queue {tap.Queue}");
            }

            var token = $"chaos-{Guid.NewGuid():N}";
            var common = new Dictionary<string, string>
            {
                ["OMS_SERVICE_TOKEN"] = token,
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
                ["Logging__LogLevel__Orders.Api.RecoveryWorker"] = "Information",
                ["DOTNET_gcServer"] = "0", // five processes on a small machine
            };
            if (options.ApiKey is not null)
            {
                common["Auth__ApiKeys__0__Name"] = "chaos";
                common["Auth__ApiKeys__0__Hash"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey)));
                common["Auth__ApiKeys__0__Scopes__0"] = "orders:read orders:write stock:read stock:write payments:read";
            }
            ServiceProcess Service(string name, string project, IEnumerable<KeyValuePair<string, string>> settings)
            {
                var port = PostgresServer.FreePort();
                var env = new Dictionary<string, string>(common)
                {
                    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                    ["Urls"] = $"http://127.0.0.1:{port}", // appsettings.json's Urls would win over ASPNETCORE_URLS
                };
                foreach (var (k, v) in settings) env[k] = v;
                return services[name] = new ServiceProcess(name, Dll(project), port, env, logDirectory);
            }

            // As in production: the order service talks HTTP/2 cleartext to their internal endpoints, each replica its own.
            var inventoryH2c = new[] { $"http://127.0.0.1:{PostgresServer.FreePort()}", $"http://127.0.0.1:{PostgresServer.FreePort()}" };
            var paymentH2c = new[] { $"http://127.0.0.1:{PostgresServer.FreePort()}", $"http://127.0.0.1:{PostgresServer.FreePort()}" };
            var inventoryA = Service(InventoryA, "Inventory.Api", [.. inventoryDb.Settings("inventory", "__"), new("InternalUrls", inventoryH2c[0])]);
            var inventoryB = Service(InventoryB, "Inventory.Api", [.. inventoryDb.Settings("inventory", "__"), new("InternalUrls", inventoryH2c[1])]);
            var paymentA = Service(PaymentA, "Payments.Api", [.. paymentsDb.Settings("payments", "__"), new("InternalUrls", paymentH2c[0])]);
            var paymentB = Service(PaymentB, "Payments.Api", [.. paymentsDb.Settings("payments", "__"), new("InternalUrls", paymentH2c[1])]);
            KeyValuePair<string, string>[] orderSettings =
            [
                .. ordersDb.Settings("orders", "__"),
                // Service names, resolved from the Services section (Microsoft.Extensions.ServiceDiscovery): both replicas,
                // round-robin, a failed attempt retried on the next one.
                new("Saga__InventoryUrl", "http://inventory/"),
                new("Saga__PaymentUrl", "http://payment/"),
                .. inventoryH2c.Select((url, i) => KeyValuePair.Create($"Services__inventory__http__{i}", url)),
                .. paymentH2c.Select((url, i) => KeyValuePair.Create($"Services__payment__http__{i}", url)),
                new("Saga__Http2", "true"),
                new("Saga__RequestBudget", "00:00:02"),
                new("Saga__AttemptTimeout", "00:00:00.500"),
                new("Recovery__PollInterval", "00:00:00.250"),
                new("Recovery__Lease", "00:00:05"),
                // Small batches, so that a batch fits in the short lease (the service refuses a lease shorter than a batch).
                new("Recovery__BatchSize", "8"),
                new("Recovery__AttemptBudget", "00:00:02"),
                new("Recovery__MaxBackoff", "00:00:01"),
                new("Recovery__GiveUpAfter", options.GiveUp.ToString("c", CultureInfo.InvariantCulture)),
                // Empty: publishing off (no outbox rows, no relay).
                new("ConnectionStrings__events", broker?.AmqpUri ?? ""),
            ];
            var ordersA = Service(OrdersA, "Orders.Api", orderSettings);
            var ordersB = Service(OrdersB, "Orders.Api", orderSettings);

            var startTimeout = TimeSpan.FromSeconds(60);
            // One replica of each first: two would race to migrate the same database (the migrator serializes them anyway).
            await Task.WhenAll(inventoryA.StartAsync(startTimeout, ct), paymentA.StartAsync(startTimeout, ct), ordersA.StartAsync(startTimeout, ct));
            await Task.WhenAll(inventoryB.StartAsync(startTimeout, ct), paymentB.StartAsync(startTimeout, ct), ordersB.StartAsync(startTimeout, ct));
            Say($"up: inventory :{inventoryA.Port} and :{inventoryB.Port}, payment :{paymentA.Port} and :{paymentB.Port}, " +
                $"orders :{ordersA.Port} and :{ordersB.Port}");

            // Stock: a few SKUs (enough for the longest basket), received in two deliveries each; in total about 60 % of
            // what the orders ask for (half of them one line, the others 2..LinesMax; 3 units a line on average).
            var skus = Enumerable.Range(0, Math.Max(5, options.LinesMax)).Select(i => $"CHAOS-{i:D2}").ToArray();
            var unknownSkus = new HashSet<string> { "CHAOS-NEVER-RECEIVED" };
            var linesPerOrder = options.LinesMax == 1 ? 1 : 0.5 + 0.5 * (2 + options.LinesMax) / 2;
            var perDelivery = (int)Math.Max(10, options.Orders * linesPerOrder * 3 * 0.6 / skus.Length / 2);
            var received = await ReceiveStockAsync(inventoryA.BaseUri, options.ApiKey, skus, perDelivery, ct);
            Say($"received {string.Join(", ", received.Select(kv => $"{kv.Key}={kv.Value}"))}");

            var plans = Plans(options, seed, random, skus, unknownSkus.First());
            result.CancelsPlanned = plans.Count(p => p.Cancel != CancelMode.None);
            // A racing cancel needs the order's id while the request that places it still runs: the database has it first.
            await using var peek = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder(ordersDb.Admin)
                { MaxPoolSize = 8, Timeout = 2, CommandTimeout = 2 }.ConnectionString);
            async Task<Guid?> FindOrderIdAsync(string key)
            {
                await using var command = peek.CreateCommand("SELECT order_id FROM orders WHERE idempotency_key = $1 LIMIT 1");
                command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = key });
                return await command.ExecuteScalarAsync() as Guid?;
            }
            using var driver = new OrderDriver([ordersA.BaseUri, ordersB.BaseUri], options.RequestTimeout, options.Concurrency, options.ApiKey,
                FindOrderIdAsync);

            var stream = Stopwatch.StartNew();
            await StreamAsync(options, plans, driver, random, seed, result, services, pg, broker, Say, ct);
            result.StreamTime = stream.Elapsed;
            Say($"stream done: {result.OrdersSent} orders, {driver.Requests} requests in {stream.Elapsed.TotalSeconds:0.0} s");

            // Everything back up (a process that died on its own is restarted too, and counted).
            foreach (var service in services.Values.Where(s => !s.IsRunning))
            {
                Say($"{service.Name} is not running: restarting it before the drain");
                await service.StartAsync(startTimeout, ct);
            }

            var drain = Stopwatch.StartNew();
            long unfinished;
            while ((unfinished = await InvariantChecker.CountUnfinishedAsync(ordersDb.Admin, ct)) > 0 && drain.Elapsed < options.DrainTimeout)
                await Task.Delay(250, ct);
            result.DrainTime = drain.Elapsed;
            Say($"drain: {unfinished} unfinished (PENDING, or a cancel not finished) after {drain.Elapsed.TotalSeconds:0.0} s; checking invariants");

            IReadOnlyList<Delivery>? deliveries = null;
            if (tap is not null)
            {
                deliveries = await WaitForEventsAsync(options, ordersDb.Admin, tap, result, ct);
                Say($"outbox: {result.OutboxBacklog} events waiting after {result.OutboxDrainTime.TotalSeconds:0.0} s; consumer: {deliveries.Count} deliveries");
            }

            // Every replica took its share: the driver spreads the orders, service discovery the saga's calls.
            foreach (var service in services.Values) await CountServedAsync(service, result, ct);
            foreach (var service in services.Values.Where(s => result.ServedByReplica.GetValueOrDefault(s.Name) == 0))
                result.Violations.Add($"{service.Name} served no {(service.Name is OrdersA or OrdersB ? "order request" : "saga call")}: " +
                                      "the stream does not reach every replica");

            result.Requests = driver.Requests;
            foreach (var (outcome, count) in driver.Outcomes) result.ResponsesByOutcome[outcome] = count;
            foreach (var (outcome, count) in driver.CancelOutcomes) result.CancelsByOutcome[outcome] = count;
            result.Unexpected5xx = driver.Outcomes.Concat(driver.CancelOutcomes)
                .Where(kv => kv.Key.Length == 3 && kv.Key[0] == '5' && kv.Key != "503").Sum(kv => kv.Value);
            result.UnexpectedErrors.AddRange(driver.Unexpected);
            await InvariantChecker.CheckAsync(result, ordersDb.Admin, inventoryDb.Admin, paymentsDb.Admin, received, unknownSkus, plans, deliveries);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            result.Aborted = $"{e.GetType().Name}: {e.Message}";
            Say($"aborted: {e}");
        }
        finally
        {
            result.UnexpectedProcessExits = services.Values.Sum(s => s.UnexpectedExits);
            foreach (var service in services.Values) service.Dispose();
            if (tap is not null) await tap.DisposeAsync();
            if (broker is not null) await broker.DisposeAsync();
            result.TotalTime = total.Elapsed;
        }
        return result;
    }

    /// <summary>
    /// The orders are split into Kills + 1 slots. Slot s starts at full speed; after a random 20–80 % of its orders,
    /// process Targets[s % targets] is SIGKILLed (with up to Concurrency orders in flight), stays down a random while and is
    /// restarted; the rest of the slot is spread over that down + restart time, so requests keep arriving while it is
    /// down. The next slot starts once it is back: one process is down at a time, and every kill meets traffic.
    /// </summary>
    private static async Task StreamAsync(ChaosOptions options, IReadOnlyList<OrderPlan> plans, OrderDriver driver, Random random, int seed,
        ChaosResult result, Dictionary<string, ServiceProcess> services, ChaosPostgres pg, RabbitMqNode? broker, Action<string> say, CancellationToken ct)
    {
        var targets = Targets(options);
        var deadline = DateTime.UtcNow + options.StreamLimit;
        using var slots = new SemaphoreSlim(options.Concurrency);
        var inFlight = new List<Task>();
        var slotCount = options.Kills + 1;
        // Measured restart times (initial guesses), to spread the orders after a kill over the outage.
        var restartEstimate = new Dictionary<string, TimeSpan> { [Postgres] = TimeSpan.FromSeconds(1.5), [Broker] = TimeSpan.FromSeconds(5) };
        var longOutages = 0;
        for (var s = 0; s < slotCount && DateTime.UtcNow < deadline; s++)
        {
            var start = (int)((long)s * plans.Count / slotCount);
            var end = (int)((long)(s + 1) * plans.Count / slotCount);
            var killAt = s < options.Kills ? start + (int)((end - start) * (0.2 + 0.6 * random.NextDouble())) : int.MaxValue;
            var target = targets[s % targets.Length];
            var kind = target is Postgres or Broker ? target : "service";
            var down = TimeSpan.FromMilliseconds(200 + random.NextDouble() * Math.Max(0, options.MaxDownTime.TotalMilliseconds - 200));
            string[] victims = [target];
            if (target is InventoryA or InventoryB or PaymentA or PaymentB && longOutages < options.LongOutages && s < options.Kills)
            {
                // The whole service (both replicas) down past the give-up deadline: one replica alone is not an outage.
                longOutages++;
                victims = ServiceOf(target);
                down = options.GiveUp + TimeSpan.FromSeconds(1.5);
            }
            Task? kill = null;
            var spacing = TimeSpan.Zero;
            for (var i = start; i < end && DateTime.UtcNow < deadline; i++)
            {
                if (i >= killAt && kill is null)
                {
                    kill = KillAndRestartAsync(victims, down, services, pg, broker, result, restartEstimate, say, i, ct);
                    var outage = down + restartEstimate.GetValueOrDefault(kind, TimeSpan.FromSeconds(3));
                    spacing = outage / Math.Max(1, end - i);
                }
                if (kill is { IsCompleted: false } && spacing > TimeSpan.Zero) await Task.WhenAny(kill, Task.Delay(spacing, ct));
                await slots.WaitAsync(ct);
                var plan = plans[i];
                result.OrdersSent++;
                var own = new Random(HashCode.Combine(seed, i));
                inFlight.Add(Task.Run(async () =>
                {
                    try { await driver.RunAsync(plan, own); }
                    finally { slots.Release(); }
                }, ct));
            }
            if (s < options.Kills && DateTime.UtcNow < deadline)
                await (kill ?? KillAndRestartAsync(victims, down, services, pg, broker, result, restartEstimate, say, end, ct));
        }
        await Task.WhenAll(inFlight);
    }

    /// <summary>SIGKILLs the victims (one process, or every replica of a service), keeps them down, restarts them.</summary>
    private static async Task KillAndRestartAsync(string[] victims, TimeSpan down, Dictionary<string, ServiceProcess> services,
        ChaosPostgres pg, RabbitMqNode? broker, ChaosResult result, Dictionary<string, TimeSpan> restartEstimate, Action<string> say, int atOrder, CancellationToken ct)
    {
        foreach (var victim in victims) result.KillsByProcess[victim] = result.KillsByProcess.GetValueOrDefault(victim) + 1;
        var names = string.Join(" and ", victims);
        say($"kill #{result.KillsByProcess.Values.Sum()}: SIGKILL {names} at order {atOrder}, down {down.TotalSeconds:0.0} s");
        foreach (var victim in victims)
        {
            if (victim == Postgres) await pg.KillAsync();
            else if (victim == Broker) broker!.Kill();
            else
            {
                // Its counters die with it: what it served so far is read first.
                await CountServedAsync(services[victim], result, ct);
                services[victim].Kill();
            }
        }
        await Task.Delay(down, ct);
        var restart = Stopwatch.StartNew();
        await Task.WhenAll(victims.Select(victim =>
            victim == Postgres ? pg.RestartAsync()
            : victim == Broker ? broker!.RestartAsync()
            : services[victim].StartAsync(TimeSpan.FromSeconds(60), ct)));
        restartEstimate[victims[0] is Postgres or Broker ? victims[0] : "service"] = restart.Elapsed;
        say($"  {names} back (restart took {restart.Elapsed.TotalSeconds:0.0} s)");
    }

    /// <summary>
    /// Adds what a replica served since its last start to <see cref="ChaosResult.ServedByReplica"/>: orders requests for an
    /// order replica, the saga's calls for an inventory or payment replica.
    /// </summary>
    private static async Task CountServedAsync(ServiceProcess replica, ChaosResult result, CancellationToken ct)
    {
        Func<string, bool> counts = replica.Name is OrdersA or OrdersB
            ? route => route.StartsWith("/api/v1/orders", StringComparison.Ordinal)
            : SagaRoutes.Contains;
        if (!replica.IsRunning || await ReplicaTraffic.ReadAsync(replica.BaseUri, counts, ct) is not { } served) return;
        lock (result.ServedByReplica) result.ServedByReplica[replica.Name] = result.ServedByReplica.GetValueOrDefault(replica.Name) + served;
    }

    /// <summary>
    /// After the drain: waits (up to OutboxTimeout) until the outbox is empty, then until the consumer has seen every event
    /// of every timeline; returns every delivery it received, in arrival order. What is still missing then, the checker reports.
    /// </summary>
    private static async Task<IReadOnlyList<Delivery>> WaitForEventsAsync(ChaosOptions options, string ordersDb, EventTap tap, ChaosResult result,
        CancellationToken ct)
    {
        var wait = Stopwatch.StartNew();
        while ((result.OutboxBacklog = await SystemSnapshot.CountOutboxBacklogAsync(ordersDb, ct)) > 0 && wait.Elapsed < options.OutboxTimeout)
            await Task.Delay(250, ct);
        result.OutboxDrainTime = wait.Elapsed;

        // Marked sent means confirmed by the broker; the consumer gets it a moment later.
        var eventIds = await SystemSnapshot.EventIdsAsync(ordersDb, ct);
        while (wait.Elapsed < options.OutboxTimeout && !eventIds.IsSubsetOf(tap.All.Select(e => e.Id)))
            await Task.Delay(250, ct);
        try
        {
            // Fails on an event the tap could not decode as a CloudEvent (it is then missing from its deliveries, too).
            await tap.WaitForAsync(_ => true, TimeSpan.FromSeconds(1));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result.Violations.Add($"the consumer received an event it could not decode: {e.Message}");
        }
        return [.. tap.All.Select(e => new Delivery(e.Id, e.Subject, e.Sequence))];
    }

    private static List<OrderPlan> Plans(ChaosOptions options, int seed, Random random, string[] skus, string unknownSku)
    {
        var plans = new List<OrderPlan>(options.Orders);
        for (var i = 0; i < options.Orders; i++)
        {
            var lineCount = options.LinesMax > 1 && random.NextDouble() < 0.5 ? 2 + random.Next(options.LinesMax - 1) : 1;
            // Distinct SKUs, in a random order: overlapping baskets lock the same rows in different request orders.
            var lines = skus.OrderBy(_ => random.Next()).Take(lineCount)
                .Select(sku => new OrderLine(sku, 1 + random.Next(5))).ToList();
            // ~2 % have a line of an item never received (UNKNOWN_ITEM); ~4 % a line asking for more than any SKU ever
            // holds (INSUFFICIENT_STOCK); stock also runs out for the rest.
            if (random.NextDouble() < 0.02) lines[random.Next(lines.Count)] = new OrderLine(unknownSku, 1 + random.Next(5));
            if (random.NextDouble() < 0.04)
            {
                var big = random.Next(lines.Count);
                lines[big] = lines[big] with { Quantity = 900_000 + random.Next(100_000) };
            }
            // ~10 % at or above 1000 (PAYMENT_DECLINED), the rest 0.01–999.99.
            var amount = random.NextDouble() < 0.10
                ? 1000m + random.Next(0, 150_000) / 100m
                : 0.01m + random.Next(0, 99_999) / 100m;
            var cancel = random.NextDouble() < options.CancelShare
                ? random.NextDouble() < 0.5 ? CancelMode.AfterAnswer : CancelMode.Racing
                : CancelMode.None;
            plans.Add(new OrderPlan(i, $"chaos-{seed}-{i:D6}", lines, amount,
                keyInHeader: random.NextDouble() < 0.2, concurrentFirst: random.NextDouble() < 0.3,
                itemsForm: random.NextDouble() < 0.2, cancel: cancel));
        }
        return plans;
    }

    private static async Task<Dictionary<string, long>> ReceiveStockAsync(Uri inventory, string? apiKey, string[] skus, int perDelivery, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = inventory, Timeout = TimeSpan.FromSeconds(10) };
        if (apiKey is not null) http.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        var received = new Dictionary<string, long>();
        foreach (var sku in skus)
            for (var delivery = 0; delivery < 2; delivery++)
            {
                using var response = await http.PostAsJsonAsync("/api/v1/stock/items", new { item_sku = sku, quantity = perDelivery }, ct);
                response.EnsureSuccessStatusCode();
                var body = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
                received[sku] = received.GetValueOrDefault(sku) + perDelivery;
                if (body!["quantity"]!.GetValue<long>() != received[sku])
                    throw new InvalidOperationException($"receiving {sku}: available {body["quantity"]} after receiving {received[sku]} in total");
            }
        return received;
    }

    /// <summary>The folder holding Oms.slnx, found by walking up from this assembly's folder (or the current one).</summary>
    public static string RepoRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Oms.slnx")))
                    return dir.FullName;
        throw new DirectoryNotFoundException("Oms.slnx not found above " + AppContext.BaseDirectory);
    }
}
