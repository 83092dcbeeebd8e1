using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Oms.Chaos;

/// <summary>
/// Sends each plan to both order replicas (at once for some), and retries the same key with the same payload
/// after a refused connection, a transport error, a timeout, 503 or 409, within a bounded number of attempts.
/// Plans that are cancelled get their cancel once an answer names the order, or (racing) as soon as the order's row
/// is committed while the placing request still runs; a cancel is retried like a placement, and some are repeated.
/// </summary>
public sealed class OrderDriver : IDisposable
{
    public const int MaxAttempts = 8;
    private static readonly TimeSpan PeekInterval = TimeSpan.FromMilliseconds(10);
    private readonly HttpClient[] _replicas;
    private readonly TimeSpan _timeout;
    private readonly Func<string, Task<Guid?>>? _findOrderId;
    private readonly ConcurrentDictionary<string, int> _outcomes = new();
    private readonly ConcurrentDictionary<string, int> _cancelOutcomes = new();
    private readonly ConcurrentQueue<string> _unexpected = new();

    /// <param name="apiKey">Sent as 'Authorization: Bearer' with every order when the services require API keys.</param>
    /// <param name="findOrderId">
    /// Looks an idempotency key's order up in the orders database (null while there is none), so that a racing cancel
    /// can be sent while the request that places the order is still running. Without it racing cancels wait for an answer.
    /// </param>
    public OrderDriver(IReadOnlyList<Uri> replicas, TimeSpan timeout, int concurrency, string? apiKey = null,
        Func<string, Task<Guid?>>? findOrderId = null)
    {
        _timeout = timeout;
        _findOrderId = findOrderId;
        _replicas = replicas.Select(uri =>
        {
            var client = new HttpClient(new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(2),
                PooledConnectionLifetime = TimeSpan.FromSeconds(30),
                MaxConnectionsPerServer = concurrency * 2,
            })
            { BaseAddress = uri, Timeout = Timeout.InfiniteTimeSpan };
            if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
            return client;
        }).ToArray();
    }

    /// <summary>Placing requests by outcome (status code or transport outcome).</summary>
    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;
    /// <summary>Cancel requests by outcome.</summary>
    public IReadOnlyDictionary<string, int> CancelOutcomes => _cancelOutcomes;
    public IReadOnlyCollection<string> Unexpected => _unexpected;
    public int Requests => _outcomes.Values.Sum() + _cancelOutcomes.Values.Sum();

    public async Task RunAsync(OrderPlan plan, Random random)
    {
        var cancelled = false;
        if (plan.Cancel == CancelMode.Racing && _findOrderId is not null)
        {
            var placing = PlaceAsync(plan, random);
            if (await PeekOrderIdAsync(plan.Key, placing) is { } early)
            {
                await CancelAsync(plan, early, random);
                cancelled = true;
            }
            await placing;
        }
        else
        {
            await PlaceAsync(plan, random);
        }

        if (plan.Cancel != CancelMode.None && !cancelled
            && plan.Replies.FirstOrDefault(r => r.OrderId is not null) is { } answered && Guid.TryParse(answered.OrderId, out var id))
            await CancelAsync(plan, id, random);
    }

    private async Task PlaceAsync(OrderPlan plan, Random random)
    {
        int first, other;
        lock (random)
        {
            first = random.Next(_replicas.Length);
            other = (first + 1) % _replicas.Length;
        }
        var attempt = 0;
        if (plan.ConcurrentFirst)
        {
            await Task.WhenAll(SendAsync(plan, first, attempt++, random), SendAsync(plan, other, attempt++, random));
        }
        else
        {
            await SendAsync(plan, first, attempt++, random);
            await SendAsync(plan, other, attempt++, random);
        }

        // Keep retrying (same key, same payload) until some replica gave an answer about the order.
        while (!plan.Replies.Any(r => r.Status is 200 or 201 or 202 or 422) && attempt < MaxAttempts)
        {
            await Task.Delay(Backoff(attempt, random));
            int replica;
            lock (random) replica = random.Next(_replicas.Length);
            await SendAsync(plan, replica, attempt++, random);
        }
    }

    /// <summary>Polls the orders database for the key's order while the placing requests run; null once they are done without one.</summary>
    private async Task<Guid?> PeekOrderIdAsync(string key, Task placing)
    {
        while (true)
        {
            var done = placing.IsCompleted;
            try
            {
                if (await _findOrderId!(key) is { } id) return id;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // PostgreSQL is down (a kill): keep looking while the placement retries.
            }
            if (done) return null;
            await Task.WhenAny(placing, Task.Delay(PeekInterval));
        }
    }

    /// <summary>
    /// Cancels until a replica answers for good (200, 202, or 409 order_not_cancellable); then, for some plans, once more
    /// (a cancel is idempotent: the repeat must agree).
    /// </summary>
    private async Task CancelAsync(OrderPlan plan, Guid orderId, Random random)
    {
        bool repeat;
        lock (random) repeat = random.NextDouble() < 0.3;
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (attempt > 0) await Task.Delay(Backoff(attempt + 1, random));
            int replica;
            lock (random) replica = random.Next(_replicas.Length);
            var reply = await SendCancelAsync(plan, orderId, replica, attempt, random);
            if (reply.Accepted || reply.NotCancellable)
            {
                if (repeat) await SendCancelAsync(plan, orderId, (replica + 1) % _replicas.Length, attempt + 1, random);
                return;
            }
        }
    }

    private static TimeSpan Backoff(int attempt, Random random)
    {
        lock (random) return TimeSpan.FromMilliseconds((int)Math.Min(1500, 100 * Math.Pow(2, attempt - 2)) + random.Next(100));
    }

    /// <summary>The placing request's body. The lines go in another order each attempt (a replay compares them as a set).</summary>
    public static string OrderJson(OrderPlan plan, int attempt)
    {
        // The same amount, written two ways (12.5 / 12.50): a replay compares parsed values.
        var amount = plan.Amount.ToString(attempt % 2 == 0 ? "0.00" : "0.##", CultureInfo.InvariantCulture);
        var keyField = plan.KeyInHeader ? "" : $",\"idempotency_key\":{JsonSerializer.Serialize(plan.Key)}";
        if (!plan.ItemsForm)
        {
            var line = plan.Lines[0];
            return $"{{\"item_sku\":{JsonSerializer.Serialize(line.Sku)},\"quantity\":{line.Quantity},\"amount\":{amount}{keyField}}}";
        }
        var rotated = plan.Lines.Skip(attempt % plan.Lines.Count).Concat(plan.Lines.Take(attempt % plan.Lines.Count));
        var items = string.Join(",", rotated.Select(l => $"{{\"item_sku\":{JsonSerializer.Serialize(l.Sku)},\"quantity\":{l.Quantity}}}"));
        return $"{{\"items\":[{items}],\"amount\":{amount}{keyField}}}";
    }

    private async Task SendAsync(OrderPlan plan, int replica, int attempt, Random random)
    {
        lock (plan.Replicas) plan.Replicas.Add(replica);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/orders")
        {
            Content = new StringContent(OrderJson(plan, attempt), Encoding.UTF8, "application/json"),
        };
        if (plan.KeyInHeader) request.Headers.Add("Idempotency-Key", plan.Key);

        var (status, body, replayed, outcome, error) = await SendAsync(replica, request);
        var reply = status == 0
            ? new Reply(replica, outcome, 0, null, null, null, false, error)
            : Interpret(plan, replica, status, body, replayed);
        plan.Replies.Enqueue(reply);
        _outcomes.AddOrUpdate(reply.Outcome, 1, (_, n) => n + 1);
    }

    private async Task<CancelReply> SendCancelAsync(OrderPlan plan, Guid orderId, int replica, int attempt, Random random)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/orders/{orderId}/cancel");
        int bodyKind;
        lock (random) bodyKind = random.Next(3);
        // The body is optional: none, {} or a reason.
        if (bodyKind > 0)
            request.Content = new StringContent(bodyKind == 1 ? "{}" : $"{{\"reason\":\"chaos cancel {plan.Index}/{attempt}\"}}",
                Encoding.UTF8, "application/json");

        var (status, body, _, outcome, error) = await SendAsync(replica, request);
        string? orderStatus = null, problem = null;
        if (status != 0)
        {
            try
            {
                using var doc = JsonDocument.Parse(body);
                var root = doc.RootElement;
                if (status is 200 or 202)
                {
                    orderStatus = root.GetProperty("status").GetString();
                    if (root.GetProperty("order_id").GetString() != orderId.ToString())
                        Report($"cancel {status} of {orderId} ({plan.Key}) answers another order: {Truncate(body)}");
                    if (status == 200 && orderStatus != "CANCELLED")
                        Report($"cancel 200 of {orderId} ({plan.Key}) with status {orderStatus}: {Truncate(body)}");
                }
                else if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("code", out var code))
                {
                    problem = code.GetString();
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                if (status is 200 or 202) Report($"cancel {status} of {orderId} ({plan.Key}) with an unreadable body: {Truncate(body)}");
            }
            switch (status)
            {
                case 200 or 202 or 503:
                    break;
                case 409 when problem is "order_not_cancellable" or "request_in_progress":
                    break;
                default:
                    Report($"cancel {status} from replica {replica} for {orderId} ({plan.Key}): {Truncate(body)}");
                    break;
            }
        }
        var reply = new CancelReply(replica, status == 0 ? outcome : Outcome(status, problem), status, orderStatus, problem ?? error);
        plan.CancelReplies.Enqueue(reply);
        _cancelOutcomes.AddOrUpdate(reply.Outcome, 1, (_, n) => n + 1);
        return reply;
    }

    private static string Outcome(int status, string? problem) =>
        status == 409 && problem is not null ? $"409 {problem}" : status.ToString(CultureInfo.InvariantCulture);

    /// <summary>One request with the client timeout; status 0 with the transport outcome when no answer came.</summary>
    private async Task<(int Status, string Body, bool Replayed, string Outcome, string? Error)> SendAsync(int replica, HttpRequestMessage request)
    {
        using var cts = new CancellationTokenSource(_timeout);
        try
        {
            using var response = await _replicas[replica].SendAsync(request, cts.Token);
            var body = await response.Content.ReadAsStringAsync(cts.Token);
            return ((int)response.StatusCode, body, response.Headers.Contains("Idempotent-Replayed"), "", null);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return (0, "", false, "timeout", null);
        }
        catch (HttpRequestException e)
        {
            var refused = e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
            return (0, "", false, refused ? "connection refused" : "transport error", e.Message);
        }
    }

    private Reply Interpret(OrderPlan plan, int replica, int status, string body, bool replayed)
    {
        string? orderId = null, orderStatus = null, reason = null, problem = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (status is 200 or 201 or 202)
            {
                orderId = root.GetProperty("order_id").GetString();
                orderStatus = root.GetProperty("status").GetString();
                reason = root.GetProperty("failure_reason").GetString();
                if (!CarriesPlan(plan, root)) Report($"{status} for key {plan.Key} carries another order's payload (sent {plan.DescribeLines()}, {plan.Amount}): {Truncate(body)}");
            }
            else if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("code", out var code))
            {
                problem = code.GetString();
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            if (status is 200 or 201 or 202) Report($"{status} for key {plan.Key} with an unreadable body: {Truncate(body)}");
        }

        var outcome = status.ToString(CultureInfo.InvariantCulture);
        switch (status)
        {
            case 200 or 201 or 202 or 503:
                break;
            case 409 when problem == "request_in_progress":
                break;
            case 422:
                // The same payload is sent every time: 422 idempotency_key_reused would be a bug.
                Report($"422 for key {plan.Key} although every request carries the same payload: {Truncate(body)}");
                break;
            default:
                Report($"{status} from replica {replica} for key {plan.Key}: {Truncate(body)}");
                break;
        }
        if (status == 200 && !replayed) Report($"200 for key {plan.Key} without Idempotent-Replayed: true");
        return new Reply(replica, outcome, status, orderId, orderStatus, reason, replayed, problem);
    }

    /// <summary>
    /// The order body answers this plan: its key, amount and lines (as a set); item_sku/quantity are the line of a one-line
    /// order, and null/the total units otherwise.
    /// </summary>
    public static bool CarriesPlan(OrderPlan plan, JsonElement order)
    {
        if (order.GetProperty("idempotency_key").GetString() != plan.Key || order.GetProperty("amount").GetDecimal() != plan.Amount) return false;
        var items = order.GetProperty("items").EnumerateArray()
            .Select(i => new OrderLine(i.GetProperty("item_sku").GetString()!, i.GetProperty("quantity").GetInt32())).ToList();
        if (!plan.SameLines(items)) return false;
        var sku = order.GetProperty("item_sku");
        var quantity = order.GetProperty("quantity").GetInt32();
        return plan.Lines.Count == 1
            ? sku.GetString() == plan.Lines[0].Sku && quantity == plan.Lines[0].Quantity
            : sku.ValueKind == JsonValueKind.Null && quantity == plan.Lines.Sum(l => l.Quantity);
    }

    private void Report(string message) => _unexpected.Enqueue(message);

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "…";

    public void Dispose()
    {
        foreach (var client in _replicas) client.Dispose();
    }
}
