using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Oms.Chaos;

/// <summary>One idempotency key and the one payload always sent with it.</summary>
public sealed class OrderPlan(int index, string key, string sku, int quantity, decimal amount, bool keyInHeader, bool concurrentFirst)
{
    public int Index { get; } = index;
    public string Key { get; } = key;
    public string Sku { get; } = sku;
    public int Quantity { get; } = quantity;
    public decimal Amount { get; } = amount;
    public bool KeyInHeader { get; } = keyInHeader;
    /// <summary>Send the first request to both replicas at the same time (duplicate concurrent keys).</summary>
    public bool ConcurrentFirst { get; } = concurrentFirst;
    public ConcurrentQueue<Reply> Replies { get; } = new();
    public HashSet<int> Replicas { get; } = [];
}

/// <summary>What one request got: an HTTP status (with the order in the body when 200/201/202) or a transport outcome.</summary>
public sealed record Reply(int Replica, string Outcome, int Status, string? OrderId, string? OrderStatus, string? FailureReason,
    bool Replayed, string? Problem);

/// <summary>
/// Sends each plan to both order replicas (at once for some), and retries the same key with the same payload
/// after a refused connection, a transport error, a timeout, 503 or 409, within a bounded number of attempts.
/// </summary>
public sealed class OrderDriver : IDisposable
{
    public const int MaxAttempts = 8;
    private readonly HttpClient[] _replicas;
    private readonly TimeSpan _timeout;
    private readonly ConcurrentDictionary<string, int> _outcomes = new();
    private readonly ConcurrentQueue<string> _unexpected = new();

    /// <param name="apiKey">Sent as 'Authorization: Bearer' with every order when the services require API keys.</param>
    public OrderDriver(IReadOnlyList<Uri> replicas, TimeSpan timeout, int concurrency, string? apiKey = null)
    {
        _timeout = timeout;
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

    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;
    public IReadOnlyCollection<string> Unexpected => _unexpected;
    public int Requests => _outcomes.Values.Sum();

    public async Task RunAsync(OrderPlan plan, Random random)
    {
        var first = random.Next(_replicas.Length);
        var other = (first + 1) % _replicas.Length;
        var attempt = 0;
        if (plan.ConcurrentFirst)
        {
            await Task.WhenAll(SendAsync(plan, first, attempt++), SendAsync(plan, other, attempt++));
        }
        else
        {
            await SendAsync(plan, first, attempt++);
            await SendAsync(plan, other, attempt++);
        }

        // Keep retrying (same key, same payload) until some replica gave an answer about the order.
        while (!plan.Replies.Any(r => r.Status is 200 or 201 or 202 or 422) && attempt < MaxAttempts)
        {
            int delay;
            lock (random) delay = (int)Math.Min(1500, 100 * Math.Pow(2, attempt - 2)) + random.Next(100);
            await Task.Delay(delay);
            int replica;
            lock (random) replica = random.Next(_replicas.Length);
            await SendAsync(plan, replica, attempt++);
        }
    }

    private async Task SendAsync(OrderPlan plan, int replica, int attempt)
    {
        lock (plan.Replicas) plan.Replicas.Add(replica);
        // The same amount, written two ways (12.5 / 12.50): a replay compares parsed values.
        var amount = plan.Amount.ToString(attempt % 2 == 0 ? "0.00" : "0.##", CultureInfo.InvariantCulture);
        var keyField = plan.KeyInHeader ? "" : $",\"idempotency_key\":{JsonSerializer.Serialize(plan.Key)}";
        var json = $"{{\"item_sku\":{JsonSerializer.Serialize(plan.Sku)},\"quantity\":{plan.Quantity},\"amount\":{amount}{keyField}}}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/orders")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (plan.KeyInHeader) request.Headers.Add("Idempotency-Key", plan.Key);

        using var cts = new CancellationTokenSource(_timeout);
        Reply reply;
        try
        {
            using var response = await _replicas[replica].SendAsync(request, cts.Token);
            var body = await response.Content.ReadAsStringAsync(cts.Token);
            reply = Interpret(plan, replica, (int)response.StatusCode, body, response.Headers.Contains("Idempotent-Replayed"));
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            reply = new Reply(replica, "timeout", 0, null, null, null, false, null);
        }
        catch (HttpRequestException e)
        {
            var refused = e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
            reply = new Reply(replica, refused ? "connection refused" : "transport error", 0, null, null, null, false, e.Message);
        }
        plan.Replies.Enqueue(reply);
        _outcomes.AddOrUpdate(reply.Outcome, 1, (_, n) => n + 1);
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
                if (root.GetProperty("idempotency_key").GetString() != plan.Key || root.GetProperty("item_sku").GetString() != plan.Sku
                    || root.GetProperty("quantity").GetInt32() != plan.Quantity || root.GetProperty("amount").GetDecimal() != plan.Amount)
                    Report($"{status} for key {plan.Key} carries another order's payload: {body}");
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

    private void Report(string message) => _unexpected.Enqueue(message);

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "…";

    public void Dispose()
    {
        foreach (var client in _replicas) client.Dispose();
    }
}
