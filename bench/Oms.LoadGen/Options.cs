using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Oms.LoadGen;

/// <summary>Cancelled: placed like a confirmed order, then cancelled as soon as it is CONFIRMED.</summary>
public enum OrderKind { Confirmed, Declined, OutOfStock, Cancelled }

/// <summary>Everything one run needs, parsed and validated.</summary>
public sealed record LoadOptions(
    Uri OrdersUrl,
    Uri InventoryUrl,
    int Clients,
    TimeSpan? Duration,
    long? Count,
    TimeSpan Warmup,
    OrderMix Mix,
    int Skus,
    long StockPerSku,
    TimeSpan Settle,
    TimeSpan RequestTimeout,
    bool Json,
    string? ApiKey = null,
    int Lines = 1,
    Uri? EventsUri = null,
    TimeSpan? EventsWait = null,
    FlashSaleOptions? FlashSale = null);

/// <summary>Durations written like 30s, 2m, 1h, 500ms, 1m30s, or a plain number of seconds.</summary>
public static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim().ToLowerInvariant();
        if (double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var plain))
        {
            if (!double.IsFinite(plain) || plain > 31_536_000) return false;
            value = TimeSpan.FromSeconds(plain);
            return true;
        }

        var total = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start) return false;
            if (!double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
                return false;
            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            double unitMs = s.AsSpan(unitStart, i - unitStart) switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => -1,
            };
            if (unitMs < 0) return false;
            total += number * unitMs;
        }
        if (!double.IsFinite(total) || total > 31_536_000_000) return false;
        value = TimeSpan.FromMilliseconds(total);
        return true;
    }
}

/// <summary>Relative weights of the kinds of order, e.g. "confirmed=85,declined=5,out-of-stock=5,cancel=5".</summary>
public sealed record OrderMix(int Confirmed, int Declined, int OutOfStock, int Cancel = 0)
{
    public static OrderMix Default { get; } = new(100, 0, 0);

    public int Total => Confirmed + Declined + OutOfStock + Cancel;

    public static bool TryParse(string? text, out OrderMix mix, out string? error)
    {
        mix = Default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "the mix is empty.";
            return false;
        }
        int confirmed = 0, declined = 0, outOfStock = 0, cancel = 0;
        var seen = new HashSet<string>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                error = $"'{part}' is not name=weight.";
                return false;
            }
            var name = part[..eq].Trim().ToLowerInvariant();
            if (!int.TryParse(part[(eq + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight > 1_000_000)
            {
                error = $"the weight of '{name}' must be a whole number between 0 and 1000000.";
                return false;
            }
            if (!seen.Add(name))
            {
                error = $"'{name}' is given twice.";
                return false;
            }
            switch (name)
            {
                case "confirmed": confirmed = weight; break;
                case "declined": declined = weight; break;
                case "out-of-stock" or "out_of_stock" or "oos": outOfStock = weight; break;
                case "cancel" or "cancelled": cancel = weight; break;
                default:
                    error = $"unknown kind '{name}' (use confirmed, declined, out-of-stock, cancel).";
                    return false;
            }
        }
        if (confirmed + declined + outOfStock + cancel == 0)
        {
            error = "the weights add up to 0.";
            return false;
        }
        mix = new OrderMix(confirmed, declined, outOfStock, cancel);
        return true;
    }

    /// <summary>
    /// The kind of the order with this sequence number. Deterministic: every run of <see cref="Total"/>
    /// consecutive sequence numbers holds exactly the weights, spread out rather than in blocks.
    /// </summary>
    public OrderKind Pick(long sequence)
    {
        var total = Total;
        var stride = total % 7919 == 0 ? 104_729L : 7919L; // a prime coprime with total permutes the slots
        var slot = (int)((sequence % total) * stride % total);
        if (slot < Confirmed) return OrderKind.Confirmed;
        if (slot < Confirmed + Declined) return OrderKind.Declined;
        if (slot < Confirmed + Declined + OutOfStock) return OrderKind.OutOfStock;
        return OrderKind.Cancelled;
    }

    // Without cancels, written as before the cancel kind existed (the sittings' results name their mix).
    public override string ToString() =>
        $"confirmed={Confirmed},declined={Declined},out-of-stock={OutOfStock}" + (Cancel > 0 ? $",cancel={Cancel}" : "");
}

/// <summary>The one command of the load generator. Each instance has its own options (a symbol has one parent).</summary>
public sealed class LoadGenCommand : RootCommand
{
    public readonly Option<Uri> OrdersUrl = new("--orders-url")
    {
        Description = "Base URL of the order service.",
        DefaultValueFactory = _ => new Uri("http://localhost:8001"),
        CustomParser = ParseUrl,
    };

    public readonly Option<Uri> InventoryUrl = new("--inventory-url")
    {
        Description = "Base URL of the inventory service (seeding and the conservation check).",
        DefaultValueFactory = _ => new Uri("http://localhost:8002"),
        CustomParser = ParseUrl,
    };

    public readonly Option<int> Clients = new("--clients", "-c")
    {
        Description = "Concurrent clients, each with one request in flight.",
        DefaultValueFactory = _ => 64,
    };

    public readonly Option<TimeSpan?> Duration = new("--duration", "-d")
    {
        Description = "How long to drive load after the warmup (30s, 2m, 1m30s). Default 30s unless --count is given.",
        CustomParser = r => ParseDuration(r, allowZero: false),
    };

    public readonly Option<long?> Count = new("--count", "-n")
    {
        Description = "Stop after this many orders (warmup included).",
    };

    public readonly Option<TimeSpan> Warmup = new("--warmup")
    {
        Description = "Load before measuring starts (not in the statistics, still in the conservation check).",
        DefaultValueFactory = _ => TimeSpan.FromSeconds(5),
        CustomParser = r => ParseDuration(r, allowZero: true) ?? TimeSpan.Zero,
    };

    public readonly Option<OrderMix> Mix = new("--mix")
    {
        Description = "Weights of order kinds: confirmed=85,declined=5,out-of-stock=5,cancel=5 (declined: amount 1500; out-of-stock: " +
                      "a SKU with 0 stock; cancel: placed like a confirmed order, then cancelled once CONFIRMED).",
        DefaultValueFactory = _ => OrderMix.Default,
        CustomParser = r =>
        {
            if (OrderMix.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : null, out var mix, out var error)) return mix;
            r.AddError($"--mix: {error}");
            return OrderMix.Default;
        },
    };

    public const int DefaultSkus = 1024;

    public readonly Option<int> Skus = new("--skus")
    {
        Description = "Fresh SKUs seeded for the run; orders pick one at random (fewer SKUs = more row-lock contention).",
        DefaultValueFactory = _ => DefaultSkus,
    };

    /// <summary>The contract's most lines in one order.</summary>
    public const int MaxLines = 50;

    public readonly Option<int> Lines = new("--lines")
    {
        Description = $"Lines per order (1-{MaxLines}), each on a distinct SKU, 1 unit each; 1 sends the one-line form. An out-of-stock " +
                      "order has one line on the SKU with 0 stock.",
        DefaultValueFactory = _ => 1,
    };

    public readonly Option<long> StockPerSku = new("--stock-per-sku")
    {
        Description = "Stock received per SKU at the start.",
        DefaultValueFactory = _ => 1_000_000,
    };

    public readonly Option<TimeSpan> Settle = new("--settle")
    {
        Description = "After the run, how long to wait for PENDING or unanswered orders to become final (replaying their keys).",
        DefaultValueFactory = _ => TimeSpan.FromSeconds(20),
        CustomParser = r => ParseDuration(r, allowZero: true) ?? TimeSpan.Zero,
    };

    public readonly Option<TimeSpan> Timeout = new("--timeout")
    {
        Description = "Client-side timeout of one request.",
        DefaultValueFactory = _ => TimeSpan.FromSeconds(30),
        CustomParser = r => ParseDuration(r, allowZero: false) ?? TimeSpan.FromSeconds(30),
    };

    public readonly Option<bool> Json = new("--json")
    {
        Description = "Print the result as one JSON object on stdout (progress still goes to stderr).",
    };

    /// <summary>Where --api-key comes from when not given, so that the key stays off the command line (and out of ps).</summary>
    public const string ApiKeyVariable = "OMS_API_KEY";

    public readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = $"API key sent as 'Authorization: Bearer <key>' to both services (needs orders:read, orders:write, stock:read, " +
                      $"stock:write). Default: the {ApiKeyVariable} environment variable; none when it is unset.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key ? key : null,
    };

    public readonly Option<Uri?> EventsUri = new("--events-uri")
    {
        Description = "AMQP URI of the broker the order service publishes to (amqp://user:pass@host:port/vhost): a consumer of oms.events " +
                      "reports the relay lag, receive time - CloudEvent time (the transaction's timestamp: an upper bound of commit -> delivery), " +
                      "p50/p99 over the events committed in the measured window. Needs the database's clock to be this machine's.",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps") return uri;
            r.AddError($"--events-uri: '{text}' is not an amqp:// or amqps:// URI.");
            return null;
        },
    };

    public static readonly TimeSpan DefaultEventsWait = TimeSpan.FromSeconds(30);

    public readonly Option<TimeSpan> EventsWait = new("--events-wait")
    {
        Description = "With --events-uri: after the run, how long at most to wait for the events of the measured window to arrive " +
                      "(until none came for a second).",
        DefaultValueFactory = _ => DefaultEventsWait,
        CustomParser = r => ParseDuration(r, allowZero: true) ?? DefaultEventsWait,
    };

    public const long DefaultFlashSaleStock = 1000;
    public const long DefaultFlashSaleOrders = 20_000;

    public readonly Option<LoadScenario> Scenario = new("--scenario")
    {
        Description = "steady (default): orders spread over --skus SKUs for --duration or --count. flash-sale: --stock units of one hot " +
                      $"SKU, --count orders (default {DefaultFlashSaleOrders}) each taking 1 of them (with --lines N > 1: the hot SKU plus " +
                      "N-1 lines on plentiful SKUs, --stock-per-sku each); checks that exactly min(stock, count) orders are CONFIRMED, every " +
                      "other one FAILED with INSUFFICIENT_STOCK, with 0 errors (exit code 1 otherwise). Every order is measured (no warmup).",
        DefaultValueFactory = _ => LoadScenario.Steady,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (TryParseScenario(text, out var scenario)) return scenario;
            r.AddError($"--scenario: '{text}' is not a scenario (use steady or flash-sale).");
            return LoadScenario.Steady;
        },
    };

    private static bool TryParseScenario(string text, out LoadScenario scenario)
    {
        scenario = text.ToLowerInvariant() switch
        {
            "steady" => LoadScenario.Steady,
            "flash-sale" or "flash_sale" or "flashsale" => LoadScenario.FlashSale,
            _ => (LoadScenario)(-1),
        };
        return Enum.IsDefined(scenario);
    }

    public readonly Option<long> Stock = new("--stock")
    {
        Description = $"With --scenario flash-sale: units of the hot SKU on sale (default {DefaultFlashSaleStock}).",
        DefaultValueFactory = _ => DefaultFlashSaleStock,
    };

    public readonly Option<int> SingleLinePercent = new("--single-line-percent")
    {
        Description = "With --scenario flash-sale and --lines N > 1: the share of baskets (0-100, spread evenly) that are the hot SKU " +
                      "alone, so that one-line and multi-line orders race for the same units. Default 0: every basket has N lines.",
        DefaultValueFactory = _ => 0,
    };

    public LoadGenCommand(Func<LoadOptions, CancellationToken, Task<int>>? run = null)
        : base(
            "Load generator of the order management system: seeds stock on fresh SKUs, drives POST /api/v1/orders with unique " +
            "idempotency keys from N concurrent clients, prints orders/s, latency percentiles and status counts, and checks " +
            "conservation of stock (exit code 1 when it fails).")
    {
        Option[] all = [OrdersUrl, InventoryUrl, Clients, Duration, Count, Warmup, Mix, Skus, Lines, StockPerSku, Settle, Timeout, Json, ApiKey, EventsUri, EventsWait,
            Scenario, Stock, SingleLinePercent];
        foreach (var option in all) Options.Add(option);

        Range(Clients, 1, 10_000);
        Range(Count, 1, long.MaxValue);
        Range(Skus, 1, 100_000);
        Range(StockPerSku, 1, 1_000_000_000);
        Range(Lines, 1, MaxLines);
        Range(Stock, 1, 1_000_000_000);
        Range(SingleLinePercent, 0, 100);
        Validators.Add(r =>
        {
            // Distinct SKUs per order: there must be enough of them. (A value that is not a number is reported by its option.)
            static long? Given(OptionResult? o) => o is { Implicit: false, Tokens.Count: > 0 }
                && long.TryParse(o.Tokens[0].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : null;
            if (Given(r.GetResult(Lines)) is { } lines && lines > (Given(r.GetResult(Skus)) ?? DefaultSkus))
                r.AddError("--lines must not exceed --skus (each line is a distinct SKU).");
        });
        Validators.Add(r =>
        {
            // A flash sale is a fixed number of orders, all measured, all of one kind; options that would change that are refused.
            static bool Given(OptionResult? o) => o is { Implicit: false };
            // Read from the tokens: a bad --scenario is reported by its option (and GetValue would throw).
            var flashSale = r.GetResult(Scenario) is { Tokens.Count: > 0 } given && TryParseScenario(given.Tokens[0].Value, out var scenario)
                            && scenario == LoadScenario.FlashSale;
            if (flashSale)
            {
                foreach (var option in new Option[] { Duration, Warmup, Mix }.Where(o => Given(r.GetResult(o))))
                    r.AddError($"{option.Name} does not apply to a flash sale (it runs --count orders, measures every one, all of one kind).");
                // (A --lines that is not a number is reported by its option.)
                var lines = r.GetResult(Lines) is { Implicit: false, Tokens.Count: > 0 } l && int.TryParse(l.Tokens[0].Value, CultureInfo.InvariantCulture, out var n) ? n : 1;
                if (Given(r.GetResult(SingleLinePercent)) && lines <= 1)
                    r.AddError("--single-line-percent needs --lines greater than 1.");
            }
            else
            {
                foreach (var option in new Option[] { Stock, SingleLinePercent }.Where(o => Given(r.GetResult(o))))
                    r.AddError($"{option.Name} applies to --scenario flash-sale only.");
            }
        });
        ApiKey.Validators.Add(r =>
        {
            // The key itself is never echoed.
            if (r.GetValueOrDefault<string?>() is { } key && (key.Length == 0 || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
                r.AddError("--api-key must be non-empty, without spaces or control characters.");
        });

        SetAction((parseResult, ct) => (run ?? Runner.RunAsync)(ToOptions(parseResult), ct));
    }

    public LoadOptions ToOptions(ParseResult p)
    {
        var flashSale = p.GetValue(Scenario) == LoadScenario.FlashSale ? new FlashSaleOptions(p.GetValue(Stock), p.GetValue(SingleLinePercent)) : null;
        var count = p.GetValue(Count) ?? (flashSale is null ? null : DefaultFlashSaleOrders);
        var duration = flashSale is null ? p.GetValue(Duration) ?? (count is null ? TimeSpan.FromSeconds(30) : null) : null;
        var warmup = flashSale is null ? p.GetValue(Warmup) : TimeSpan.Zero;
        return new LoadOptions(p.GetValue(OrdersUrl)!, p.GetValue(InventoryUrl)!, p.GetValue(Clients), duration, count,
            warmup, p.GetValue(Mix)!, p.GetValue(Skus), p.GetValue(StockPerSku), p.GetValue(Settle), p.GetValue(Timeout),
            p.GetValue(Json), p.GetValue(ApiKey), p.GetValue(Lines), p.GetValue(EventsUri), p.GetValue(EventsWait), flashSale);
    }

    private static void Range(Option option, long min, long max) => option.Validators.Add(r =>
    {
        // A token that is not a number at all is already reported by the option's own conversion.
        if (r.Implicit || r.Tokens.Count == 0 || !long.TryParse(r.Tokens[0].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
            return;
        if (number < min || number > max) r.AddError($"{option.Name} must be between {min} and {max}.");
    });

    private static Uri ParseUrl(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            return uri;
        r.AddError($"'{text}' is not an absolute http(s) URL.");
        return new Uri("http://invalid");
    }

    private static TimeSpan? ParseDuration(ArgumentResult r, bool allowZero)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (Durations.TryParse(text, out var value) && (allowZero ? value >= TimeSpan.Zero : value > TimeSpan.Zero))
            return value;
        r.AddError($"'{text}' is not a duration (like 30s, 2m, 1m30s, 500ms){(allowZero ? "" : " greater than zero")}.");
        return null;
    }
}
