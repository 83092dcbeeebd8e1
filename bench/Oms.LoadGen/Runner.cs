using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Oms.LoadGen;

/// <summary>Seeds, drives load, settles PENDING orders and checks the books.</summary>
public static class Runner
{
    private static readonly MediaTypeHeaderValue JsonType = new("application/json");

    /// <summary>
    /// An order whose outcome the run does not know yet: PENDING or unanswered (replayed by key), or, for a cancel-kind
    /// order, CONFIRMED but not yet cancelled (<see cref="CancelOrderId"/> set: the cancel is sent again).
    /// </summary>
    private sealed record Unsettled(string Key, byte[] Body, int[] SkuIndices, bool Cancel, string? CancelOrderId = null);

    internal sealed record OrderAnswer(string? Status, string? FailureReason, string? OrderId = null);

    public static async Task<int> RunAsync(LoadOptions options, CancellationToken ct)
    {
        var summary = await ExecuteAsync(options, Console.Error, ct);
        if (options.Json) Console.Out.WriteLine(JsonSerializer.Serialize(summary, SummaryJsonContext.Default.RunSummary));
        else Console.Out.Write(summary.ToText());
        return summary.Ok ? 0 : 1;
    }

    /// <summary>One run: seed, load, settle, check; progress goes to <paramref name="log"/>.</summary>
    public static async Task<RunSummary> ExecuteAsync(LoadOptions options, TextWriter log, CancellationToken ct)
    {
        using var http = CreateClient(options);
        var runId = $"lg{DateTime.UtcNow:yyMMddHHmmss}{Random.Shared.Next(1000):000}";

        // 1. Seed: fresh SKUs with stock, and one SKU with none for out-of-stock orders. A flash sale puts its hot SKU first
        //    (FlashSaleOptions.HotIndex) with --stock units, and seeds plentiful SKUs only when its baskets have other lines.
        var flash = options.FlashSale;
        var plentiful = Enumerable.Range(0, flash is null || options.Lines > 1 ? options.Skus : 0).Select(i => $"{runId}-{i:D5}");
        var skus = (flash is null ? plentiful : plentiful.Prepend($"{runId}-hot")).ToArray();
        var oosSku = $"{runId}-oos";
        var allSkus = skus.Append(oosSku).ToArray();
        var seeded = new long[allSkus.Length];
        var inventory = options.InventoryUrl;
        long StockOf(int i) => flash is not null && i == FlashSaleOptions.HotIndex ? flash.Stock : options.StockPerSku;
        log.WriteLine(flash is null
            ? $"seeding {skus.Length} SKUs with {options.StockPerSku} each (run {runId}) ..."
            : $"seeding the flash sale's SKU {skus[0]} with {flash.Stock} and {skus.Length - 1} plentiful SKUs with {options.StockPerSku} each ...");
        await Parallel.ForEachAsync(Enumerable.Range(0, skus.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
            async (i, token) => seeded[i] = await SeedAsync(http, new Uri(inventory, "/api/v1/stock/items"), HttpMethod.Post,
                $$"""{"item_sku":"{{skus[i]}}","quantity":{{StockOf(i)}}}""", token));
        seeded[^1] = await SeedAsync(http, new Uri(inventory, $"/api/v1/stock/items/{oosSku}"), HttpMethod.Put, """{"quantity":0}""", ct);

        // 2. Drive load.
        var ordersUri = new Uri(options.OrdersUrl, "/api/v1/orders");
        var tallies = Enumerable.Range(0, options.Clients).Select(_ => new ClientTally(allSkus.Length)).ToArray();
        var unsettled = new List<Unsettled>[options.Clients];
        long issued = 0, completed = 0, errors = 0;
        // The relay lag consumer, bound before the first order so that it sees every event.
        var lag = options.EventsUri is null ? null : new RelayLagTally();
        await using var lagMeter = options.EventsUri is { } eventsUri ? await RelayLagMeter.StartAsync(eventsUri, lag!, ct) : null;
        var perSecond = new PerSecondSeries(options.Warmup.TotalSeconds);
        var wallStart = DateTimeOffset.UtcNow;
        var started = Stopwatch.GetTimestamp();
        var warmupEnds = started + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        var endsAt = options.Duration is { } d ? warmupEnds + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long lastCompletion = warmupEnds;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        lag?.SetWindow(wallStart + options.Warmup, options.Duration is { } window ? wallStart + options.Warmup + window : DateTimeOffset.MaxValue);

        async Task ClientAsync(int client)
        {
            var tally = tallies[client];
            var mine = unsettled[client] = [];
            var random = new Random(client * 7919 + 17);
            while (!stop.IsCancellationRequested && Stopwatch.GetTimestamp() < endsAt)
            {
                var sequence = Interlocked.Increment(ref issued) - 1;
                if (options.Count is { } count && sequence >= count) break;
                var kind = options.Mix.Pick(sequence);
                var skuIndices = flash?.PickBasket(random, sequence, options.Lines, skus.Length)
                                 ?? PickSkus(random, options.Lines, skus.Length, kind == OrderKind.OutOfStock ? allSkus.Length - 1 : null);
                var amount = kind == OrderKind.Declined ? "1500.00" : "10.00";
                var key = $"{runId}-{sequence.ToString(CultureInfo.InvariantCulture)}";
                var body = OrderBody(allSkus, skuIndices, amount, key);

                var begin = Stopwatch.GetTimestamp();
                int code;
                OrderAnswer? answer = null;
                try
                {
                    (code, answer) = await PostOrderAsync(http, ordersUri, body, stop.Token);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or IOException)
                {
                    if (stop.IsCancellationRequested && ct.IsCancellationRequested) break;
                    code = 0; // transport failure or client timeout
                }
                var end = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref completed);
                var sinceStart = Stopwatch.GetElapsedTime(started, end);
                perSecond.Record(sinceStart, Latency.MicrosBetween(begin, end));
                if (begin >= warmupEnds && end <= endsAt)
                {
                    tally.Histogram.RecordValue(Latency.MicrosSince(begin));
                    tally.Measured++;
                    if (end > Volatile.Read(ref lastCompletion)) Volatile.Write(ref lastCompletion, end);
                }
                tally.CountStatus(code);

                var cancel = kind == OrderKind.Cancelled;
                if (code is 200 or 201 && cancel && answer is { Status: "CONFIRMED", OrderId: { } orderId })
                {
                    // Cancel the order it just confirmed; its stock then goes back to the shelf.
                    var cancelBegin = Stopwatch.GetTimestamp();
                    var cancelCode = await TryCancelAsync(http, options.OrdersUrl, orderId, stop.Token);
                    var cancelEnd = Stopwatch.GetTimestamp();
                    if (cancelBegin >= warmupEnds && cancelEnd <= endsAt) tally.CancelHistogram.RecordValue(Latency.MicrosSince(cancelBegin));
                    tally.CountCancelStatus(cancelCode);
                    if (cancelCode == 200) tally.CountFinal("CANCELLED");
                    else
                    {
                        perSecond.CountError(sinceStart);
                        tally.Errors++;
                        Interlocked.Increment(ref errors);
                        tally.CountFinal("CANCEL_UNANSWERED");
                        mine.Add(new Unsettled(key, body, skuIndices, cancel, orderId));
                    }
                }
                else if (code is 200 or 201 && answer?.Status is "CONFIRMED" or "FAILED")
                {
                    tally.CountFinal(ClientTally.FinalKey(answer.Status, answer.FailureReason));
                    if (answer.Status == "CONFIRMED") foreach (var i in skuIndices) tally.ConfirmedQuantity[i] += 1;
                }
                else
                {
                    if (code != 202)
                    {
                        perSecond.CountError(sinceStart);
                        tally.Errors++;
                        Interlocked.Increment(ref errors);
                    }
                    tally.CountFinal(code == 202 ? "PENDING" : "NO_ANSWER");
                    mine.Add(new Unsettled(key, body, skuIndices, cancel));
                }
            }
        }

        using var progress = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var progressTask = Task.Run(async () =>
        {
            long previous = 0;
            try
            {
                while (await progress.WaitForNextTickAsync(stop.Token))
                {
                    var now = Interlocked.Read(ref completed);
                    var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    var phase = Stopwatch.GetTimestamp() < warmupEnds ? " (warmup)" : "";
                    log.WriteLine($"{elapsed,5:0}s {now - previous,7} orders/s  total {now,9}  errors {Interlocked.Read(ref errors)}{phase}");
                    previous = now;
                }
            }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);

        log.WriteLine($"driving {options.Clients} clients, {options.Lines} line(s) per order, mix {options.Mix}, warmup {options.Warmup.TotalSeconds:0.#}s, " +
                      (options.Duration is { } dd ? $"duration {dd.TotalSeconds:0.#}s" : $"count {options.Count}"));
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(c => Task.Run(() => ClientAsync(c), CancellationToken.None)));
        var measuredEnd = options.Duration is null ? Volatile.Read(ref lastCompletion) : Math.Min(endsAt, Stopwatch.GetTimestamp());
        var measured = TimeSpan.FromSeconds(Math.Max(0, measuredEnd - warmupEnds) / (double)Stopwatch.Frequency);
        await stop.CancelAsync();
        await progressTask;

        var merged = ClientTally.Merge(tallies, allSkus.Length);

        // 3. Settle: replay every PENDING or unanswered order with its key until it is final (or --settle runs out).
        var open = unsettled.Where(u => u is not null).SelectMany(u => u).ToList();
        var settled = new Dictionary<string, long>(StringComparer.Ordinal);
        var pendingQuantity = new long[allSkus.Length];
        if (open.Count > 0)
        {
            log.WriteLine($"settling {open.Count} PENDING or unanswered orders (up to {options.Settle.TotalSeconds:0.#}s) ...");
            var deadline = Stopwatch.GetTimestamp() + (long)(options.Settle.TotalSeconds * Stopwatch.Frequency);
            while (open.Count > 0 && Stopwatch.GetTimestamp() < deadline && !ct.IsCancellationRequested)
            {
                var stillOpen = new List<Unsettled>();
                // As many replays at a time as there were clients: one by one, a backlog of hundreds of 202s (a flash sale
                // on a busy box) outlasts --settle although every order is final by then.
                await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = options.Clients }, async (order, _) =>
                {
                    if (order.CancelOrderId is { } toCancel)
                    {
                        var cancelled = await TryCancelAsync(http, options.OrdersUrl, toCancel, ct) == 200;
                        lock (settled)
                        {
                            if (cancelled) settled["CANCELLED"] = settled.GetValueOrDefault("CANCELLED") + 1;
                            else stillOpen.Add(order);
                        }
                        return;
                    }
                    (int code, OrderAnswer? answer) result;
                    try { result = await PostOrderAsync(http, ordersUri, order.Body, ct); }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or IOException) { result = (0, null); }
                    lock (settled)
                    {
                        if (result.code is 200 or 201 && order.Cancel && result.answer is { Status: "CONFIRMED", OrderId: { } confirmedId })
                        {
                            stillOpen.Add(order with { CancelOrderId = confirmedId }); // confirmed late: now cancel it
                        }
                        else if (result.code is 200 or 201 && result.answer?.Status is "CONFIRMED" or "FAILED" or "CANCELLED")
                        {
                            var k = ClientTally.FinalKey(result.answer.Status, result.answer.FailureReason);
                            settled[k] = settled.GetValueOrDefault(k) + 1;
                            if (result.answer.Status == "CONFIRMED") foreach (var i in order.SkuIndices) merged.ConfirmedQuantity[i] += 1;
                        }
                        else if (result.code is 400 or 422)
                        {
                            settled["REJECTED"] = settled.GetValueOrDefault("REJECTED") + 1; // no order exists: nothing held
                        }
                        else stillOpen.Add(order);
                    }
                });
                open = stillOpen;
                if (open.Count > 0) await Task.Delay(500, ct);
            }
            foreach (var order in open)
                foreach (var i in order.SkuIndices) pendingQuantity[i] += 1;
            if (open.Count > 0) settled["STILL_PENDING"] = open.Count;
        }

        // 4. Conservation, per SKU.
        var balances = new SkuBalance[allSkus.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, allSkus.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
            async (i, token) =>
            {
                var available = await GetAvailableAsync(http, new Uri(inventory, $"/api/v1/stock/{allSkus[i]}"), token);
                balances[i] = new SkuBalance(allSkus[i], seeded[i], available, merged.ConfirmedQuantity[i], pendingQuantity[i]);
            });
        var conservation = ConservationResult.Check(balances);

        if (lag is not null)
        {
            log.WriteLine("waiting for the events of the measured window to reach the relay lag consumer ...");
            await RelayLagMeter.WaitQuietAsync(lag, TimeSpan.FromSeconds(1), options.EventsWait ?? LoadGenCommand.DefaultEventsWait, ct);
        }

        var ordersTotal = Interlocked.Read(ref completed);
        var verdict = flash is null ? null : FlashSaleVerdict.Check(flash, ordersTotal, FlashSaleVerdict.FinalOutcomes(merged.FinalStatuses, settled),
            merged.Errors, balances[FlashSaleOptions.HotIndex], conservation);
        return RunSummary.Create(options, measured, ordersTotal, merged, settled, open.Count, conservation, lag?.Summarize(), perSecond.Points(),
            flashSale: verdict);
    }

    public static HttpClient CreateClient(LoadOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(options.Clients, 16),
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        var client = new HttpClient(handler) { Timeout = options.RequestTimeout };
        if (options.ApiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        return client;
    }

    /// <summary>
    /// <paramref name="count"/> distinct SKU indices below <paramref name="skuCount"/>, in random order; with
    /// <paramref name="outOfStock"/>, the first line is that SKU instead.
    /// </summary>
    internal static int[] PickSkus(Random random, int count, int skuCount, int? outOfStock)
    {
        var picked = new int[count];
        for (var n = 0; n < count;)
        {
            var candidate = random.Next(skuCount);
            if (Array.IndexOf(picked, candidate, 0, n) < 0) picked[n++] = candidate;
        }
        if (outOfStock is { } oos) picked[0] = oos;
        return picked;
    }

    /// <summary>One line: the seed's form (exactly the body of the one-line benchmarks); more: <c>items</c>, 1 unit each.</summary>
    internal static byte[] OrderBody(string[] skus, int[] skuIndices, string amount, string key)
    {
        if (skuIndices.Length == 1)
            return Encoding.UTF8.GetBytes($$"""{"item_sku":"{{skus[skuIndices[0]]}}","quantity":1,"amount":{{amount}},"idempotency_key":"{{key}}"}""");
        var items = string.Join(",", skuIndices.Select(i => $$"""{"item_sku":"{{skus[i]}}","quantity":1}"""));
        return Encoding.UTF8.GetBytes($$"""{"items":[{{items}}],"amount":{{amount}},"idempotency_key":"{{key}}"}""");
    }

    /// <summary>POST …/cancel without a body; the status code, or 0 when no answer came.</summary>
    private static async Task<int> TryCancelAsync(HttpClient http, Uri ordersUrl, string orderId, CancellationToken ct)
    {
        try
        {
            using var response = await http.PostAsync(new Uri(ordersUrl, $"/api/v1/orders/{orderId}/cancel"), null, ct);
            await response.Content.LoadIntoBufferAsync(ct);
            return (int)response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return 0;
        }
    }

    private static async Task<(int Code, OrderAnswer? Answer)> PostOrderAsync(HttpClient http, Uri uri, byte[] body, CancellationToken ct)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = JsonType;
        using var response = await http.PostAsync(uri, content, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var code = (int)response.StatusCode;
        return (code, code is >= 200 and < 300 ? ReadAnswer(bytes) : null);
    }

    /// <summary>Reads status and failure_reason from the top level of an order body.</summary>
    internal static OrderAnswer ReadAnswer(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        string? status = null, reason = null, orderId = null;
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray: depth++; break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray: depth--; break;
                case JsonTokenType.PropertyName when depth == 1:
                    if (reader.ValueTextEquals("status"u8)) { reader.Read(); status = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                    else if (reader.ValueTextEquals("failure_reason"u8)) { reader.Read(); reason = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                    else if (reader.ValueTextEquals("order_id"u8)) { reader.Read(); orderId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
                    break;
            }
        }
        return new OrderAnswer(status, reason, orderId);
    }

    private static async Task<long> SeedAsync(HttpClient http, Uri uri, HttpMethod method, string json, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Seeding {uri} answered {(int)response.StatusCode}: {text}");
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("quantity").GetInt64();
    }

    private static async Task<long> GetAvailableAsync(HttpClient http, Uri uri, CancellationToken ct)
    {
        using var response = await http.GetAsync(uri, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{uri} answered {(int)response.StatusCode}: {text}");
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("quantity").GetInt64();
    }
}
