// The chaos suite, as a user runs it (build the services in the same configuration first). Two replicas each of orders,
// inventory and payment run; the order replicas reach both inventory and both payment replicas through service discovery.
//
//   dotnet build -c Release
//   dotnet run --project tests/Oms.Chaos -c Release -- --orders 3000 --kills 30
//
// A RabbitMQ node runs by default: the order replicas publish to it, it is killed in turn with the others, and every event
// must reach a consumer (at least once, in sequence order per order); --no-broker runs with publishing off.
// Multi-line orders (up to --lines-max 5 lines) and cancels (--cancel-share 0.2 of the orders) are in the stream by
// default; --lines-max 1 --cancel-share 0 sends the one-line, never-cancelled stream of before.
// Exit code 0 only with zero invariant violations, zero orders left unfinished and no unexpected 5xx.
using System.CommandLine;
using Oms.Chaos;

var orders = new Option<int>("--orders") { Description = "Distinct orders (idempotency keys) to place.", DefaultValueFactory = _ => 2000 };
var kills = new Option<int>("--kills") { Description = "SIGKILL + restart cycles over a replica of orders, inventory and payment, PostgreSQL, the other replica of each, RabbitMQ in turn.", DefaultValueFactory = _ => 12 };
var concurrency = new Option<int>("--concurrency") { Description = "Orders in flight at once.", DefaultValueFactory = _ => 32 };
var seed = new Option<int?>("--seed") { Description = "Seed of every random choice (default: random, printed)." };
var giveUp = new Option<TimeSpan>("--give-up") { Description = "Recovery give-up deadline of the order service (Recovery:GiveUpAfter).", DefaultValueFactory = _ => TimeSpan.FromSeconds(20) };
var timeout = new Option<TimeSpan>("--timeout") { Description = "Longest wait, after the stream, for no order to be PENDING.", DefaultValueFactory = _ => TimeSpan.FromSeconds(120) };
var requestTimeout = new Option<TimeSpan>("--request-timeout") { Description = "Client timeout of one HTTP request.", DefaultValueFactory = _ => TimeSpan.FromSeconds(10) };
var longOutages = new Option<int>("--long-outages") { Description = "How many inventory/payment kills take the whole service (both replicas) down past the give-up deadline (compensation under chaos).", DefaultValueFactory = _ => 2 };
var linesMax = new Option<int>("--lines-max") { Description = "Most lines in one order (half the orders have one line, the others 2..N over distinct SKUs); 1 = one-line orders only.", DefaultValueFactory = _ => 5 };
var cancelShare = new Option<double>("--cancel-share") { Description = "Share (0-1) of orders also cancelled: once answered (CONFIRMED, PENDING, FAILED) or while being placed; 0 = no cancels.", DefaultValueFactory = _ => 0.2 };
var noBroker = new Option<bool>("--no-broker") { Description = "No RabbitMQ: publishing off, no delivery check (the broker is not in the kill rotation)." };
var outboxTimeout = new Option<TimeSpan>("--outbox-timeout") { Description = "Longest wait, after the drain, for the outbox to empty and the consumer to have every event.", DefaultValueFactory = _ => TimeSpan.FromSeconds(120) };
var streamLimit = new Option<TimeSpan>("--stream-limit") { Description = "Hard limit on the order stream, kills included; past it no new order is started.", DefaultValueFactory = _ => new ChaosOptions().StreamLimit };
var logs = new Option<string?>("--logs") { Description = "Folder for the service processes' logs (default: a new temp folder)." };
var apiKey = new Option<string?>("--api-key")
{
    Description = "Run with API keys on: the services get this key (every scope) and every request carries it. Default: OMS_API_KEY; open when unset.",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OMS_API_KEY") is { Length: > 0 } key ? key : null,
};

linesMax.Validators.Add(r =>
{
    if (r.GetValueOrDefault<int>() is < 1 or > ChaosOptions.MaxLines) r.AddError($"--lines-max must be between 1 and {ChaosOptions.MaxLines}.");
});
cancelShare.Validators.Add(r =>
{
    if (r.GetValueOrDefault<double>() is not (>= 0 and <= 1)) r.AddError("--cancel-share must be between 0 and 1.");
});
foreach (var option in new Option[] { orders, kills, concurrency, longOutages })
    option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int>() < (option == kills || option == longOutages ? 0 : 1)) r.AddError($"{option.Name} is out of range.");
    });

var root = new RootCommand("Chaos suite of the order management system: real processes, SIGKILLs, invariants checked in the databases.");
foreach (var option in new Option[] { orders, kills, concurrency, seed, giveUp, timeout, requestTimeout, longOutages, linesMax, cancelShare, noBroker, outboxTimeout, streamLimit, logs, apiKey }) root.Options.Add(option);
root.SetAction(async (parse, ct) =>
{
    var result = await ChaosRunner.RunAsync(new ChaosOptions
    {
        Orders = parse.GetValue(orders),
        Kills = parse.GetValue(kills),
        Concurrency = parse.GetValue(concurrency),
        Seed = parse.GetValue(seed),
        GiveUp = parse.GetValue(giveUp),
        DrainTimeout = parse.GetValue(timeout),
        RequestTimeout = parse.GetValue(requestTimeout),
        LongOutages = parse.GetValue(longOutages),
        LinesMax = parse.GetValue(linesMax),
        CancelShare = parse.GetValue(cancelShare),
        Broker = !parse.GetValue(noBroker),
        OutboxTimeout = parse.GetValue(outboxTimeout),
        StreamLimit = parse.GetValue(streamLimit),
        LogDirectory = parse.GetValue(logs),
        ApiKey = parse.GetValue(apiKey),
        Log = Console.Out,
    }, ct);
    result.Print(Console.Out);
    return result.Success ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();
