using System.Collections.Concurrent;

namespace Oms.Chaos;

/// <summary>One line of an order: a SKU and how many units of it.</summary>
public readonly record struct OrderLine(string Sku, int Quantity)
{
    public override string ToString() => $"{Sku} x{Quantity}";
}

/// <summary>Whether, and when, the stream cancels a plan's order.</summary>
public enum CancelMode
{
    None,
    /// <summary>Once a placing request has answered with the order (CONFIRMED, FAILED, or PENDING after a 202).</summary>
    AfterAnswer,
    /// <summary>While the placing request is still running: as soon as the order's row is committed (mostly still PENDING).</summary>
    Racing,
}

/// <summary>One idempotency key and the one payload always sent with it, plus whether its order is cancelled.</summary>
public sealed class OrderPlan(int index, string key, IReadOnlyList<OrderLine> lines, decimal amount, bool keyInHeader, bool concurrentFirst,
    bool itemsForm = false, CancelMode cancel = CancelMode.None)
{
    public int Index { get; } = index;
    public string Key { get; } = key;
    /// <summary>Distinct SKUs. A one-line plan is sent in the seed's form (item_sku, quantity) unless <see cref="ItemsForm"/>.</summary>
    public IReadOnlyList<OrderLine> Lines { get; } = lines.Count > 0 ? lines : throw new ArgumentException("An order has at least one line.", nameof(lines));
    public decimal Amount { get; } = amount;
    public bool KeyInHeader { get; } = keyInHeader;
    /// <summary>Send the first request to both replicas at the same time (duplicate concurrent keys).</summary>
    public bool ConcurrentFirst { get; } = concurrentFirst;
    /// <summary>Send a one-line plan as <c>items: [one line]</c> (the same order as the seed's form).</summary>
    public bool ItemsForm { get; } = itemsForm || lines.Count > 1;
    public CancelMode Cancel { get; } = cancel;
    public ConcurrentQueue<Reply> Replies { get; } = new();
    public ConcurrentQueue<CancelReply> CancelReplies { get; } = new();
    public HashSet<int> Replicas { get; } = [];

    /// <summary>A one-line plan in the seed's form.</summary>
    public OrderPlan(int index, string key, string sku, int quantity, decimal amount, bool keyInHeader, bool concurrentFirst)
        : this(index, key, [new OrderLine(sku, quantity)], amount, keyInHeader, concurrentFirst) { }

    /// <summary>Whether these lines are this plan's, compared as a set (a replay does not care about their order).</summary>
    public bool SameLines(IEnumerable<OrderLine> lines) => SameLines(Lines, lines);

    public static bool SameLines(IEnumerable<OrderLine> a, IEnumerable<OrderLine> b) =>
        a.OrderBy(l => l.Sku, StringComparer.Ordinal).SequenceEqual(b.OrderBy(l => l.Sku, StringComparer.Ordinal));

    public string DescribeLines() => string.Join(", ", Lines);
}

/// <summary>What one placing request got: an HTTP status (with the order in the body when 200/201/202) or a transport outcome.</summary>
public sealed record Reply(int Replica, string Outcome, int Status, string? OrderId, string? OrderStatus, string? FailureReason,
    bool Replayed, string? Problem);

/// <summary>What one cancel request got: an HTTP status (with the order when 200/202, the code of a problem) or a transport outcome.</summary>
public sealed record CancelReply(int Replica, string Outcome, int Status, string? OrderStatus, string? Problem)
{
    /// <summary>The service took the cancel: the order ends CANCELLED.</summary>
    public bool Accepted => Status is 200 or 202;

    /// <summary>The service refused it for good: the order is FAILED.</summary>
    public bool NotCancellable => Status == 409 && Problem == "order_not_cancellable";
}
