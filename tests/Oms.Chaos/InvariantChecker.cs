namespace Oms.Chaos;

/// <summary>
/// Checks the invariants of DESIGN.md against what the three databases hold (<see cref="SystemSnapshot"/>, read
/// straight from their tables), plus what the clients were told: every answer about a key names the one order the
/// database holds for it, and every cancel the services took ended CANCELLED.
/// </summary>
public static class InvariantChecker
{
    public const string Pending = "PENDING", Confirmed = "CONFIRMED", Failed = "FAILED", Cancelled = "CANCELLED";
    private const string Reserved = "RESERVED", Authorized = "AUTHORIZED";

    public const string Created = "order.created", StockReserved = "order.stock_reserved", PaymentAuthorized = "order.payment_authorized",
        OrderConfirmed = "order.confirmed", OrderFailed = "order.failed", CancelRequested = "order.cancel_requested",
        OrderCancelled = "order.cancelled";

    private static readonly HashSet<string> EventTypes =
        [Created, StockReserved, PaymentAuthorized, OrderConfirmed, OrderFailed, CancelRequested, OrderCancelled];

    /// <param name="deliveries">What the consumer of <c>oms.events</c> received, in arrival order; null when no broker ran.</param>
    public static async Task CheckAsync(ChaosResult result, string ordersDb, string inventoryDb, string paymentsDb,
        IReadOnlyDictionary<string, long> received, IReadOnlySet<string> unknownSkus, IReadOnlyList<OrderPlan> plans,
        IReadOnlyList<Delivery>? deliveries = null)
    {
        var snapshot = await SystemSnapshot.ReadAsync(ordersDb, inventoryDb, paymentsDb);
        Check(result, snapshot, received, unknownSkus, plans);
        if (deliveries is not null) CheckDeliveries(result, snapshot.Events, deliveries);
    }

    /// <inheritdoc cref="SystemSnapshot.CountUnfinishedAsync"/>
    public static Task<long> CountUnfinishedAsync(string ordersDb, CancellationToken ct) => SystemSnapshot.CountUnfinishedAsync(ordersDb, ct);

    /// <summary>Every invariant over one snapshot; violations go to <paramref name="result"/>, with the figures.</summary>
    public static void Check(ChaosResult result, SystemSnapshot snapshot, IReadOnlyDictionary<string, long> received,
        IReadOnlySet<string> unknownSkus, IReadOnlyList<OrderPlan> plans)
    {
        var violations = result.Violations;
        var orders = snapshot.Orders;
        var reservations = snapshot.Reservations;
        var payments = snapshot.Payments;

        foreach (var group in orders.GroupBy(o => o.Status + (o.Reason is null ? "" : "/" + o.Reason)))
            result.OrdersByOutcome[group.Key] = group.Count();
        foreach (var group in orders.GroupBy(o => o.Lines.Count))
            result.OrdersByLineCount[group.Key] = group.Count();
        result.PendingAfterDrain = orders.Count(o => o.Status == Pending);
        result.TimelineEvents = snapshot.Events.Count;

        // 2. No negative stock; no item we never received.
        foreach (var (sku, qty) in snapshot.Available)
        {
            if (qty < 0) violations.Add($"negative stock: {sku} available {qty}");
            if (!received.ContainsKey(sku)) violations.Add($"stock item {sku} exists but was never received");
        }

        // 1. Conservation per SKU, over lines: in inventory's own books, and against the orders' states.
        foreach (var (sku, got) in received)
        {
            var now = snapshot.Available.GetValueOrDefault(sku);
            var held = reservations.Values.Where(r => r.Status == Reserved).Sum(r => Units(r.Lines, sku));
            var confirmed = orders.Where(o => o.Status == Confirmed).Sum(o => Units(o.Lines, sku));
            var heldByPending = orders.Where(o => o.Status == Pending)
                .Sum(o => reservations.TryGetValue(o.Id, out var r) && r.Status == Reserved ? Units(r.Lines, sku) : 0);
            if (got != now + held)
                violations.Add($"conservation (inventory) {sku}: received {got} != available {now} + RESERVED {held}");
            if (got != now + confirmed + heldByPending)
                violations.Add($"conservation {sku}: received {got} != available {now} + CONFIRMED {confirmed} + held by PENDING {heldByPending}");
        }

        // 3. One order per idempotency key, with the payload sent for that key (lines as a set).
        var plansByKey = plans.ToDictionary(p => p.Key);
        var ordersByKey = new Dictionary<string, OrderRow>();
        foreach (var order in orders)
        {
            if (!ordersByKey.TryAdd(order.Key, order)) violations.Add($"two orders for key {order.Key}");
            if (!plansByKey.TryGetValue(order.Key, out var plan))
            {
                violations.Add($"order {order.Id} has key {order.Key} that was never sent");
                continue;
            }
            if (!plan.SameLines(order.Lines) || plan.Amount != order.Amount)
                violations.Add($"order {order.Id} ({order.Key}) stored [{string.Join(", ", order.Lines)}]/{order.Amount}, sent [{plan.DescribeLines()}]/{plan.Amount}");
        }

        // What the clients were told agrees with the database.
        var keysWithoutOrder = 0;
        foreach (var plan in plans)
        {
            ordersByKey.TryGetValue(plan.Key, out var stored);
            if (stored is null)
            {
                if (plan.Replies.Count > 0) keysWithoutOrder++;
                if (plan.Replies.FirstOrDefault(r => r.Status is 200 or 201 or 202) is { } answer)
                    violations.Add($"key {plan.Key} was answered {answer.Status} ({answer.OrderId}) but no order is stored");
                if (plan.CancelReplies.FirstOrDefault(r => r.Accepted) is { } cancel)
                    violations.Add($"key {plan.Key}: a cancel was answered {cancel.Status} but no order is stored");
                continue;
            }
            violations.AddRange(AnswerViolations(plan, stored));
        }
        result.OrdersByOutcome["(keys sent, no order stored: every request failed before the insert)"] = keysWithoutOrder;

        // 4/5. CONFIRMED ⇔ one RESERVED reservation of all its lines and one AUTHORIZED payment of its amount;
        //      FAILED or CANCELLED ⇒ no RESERVED reservation, no AUTHORIZED payment; nothing left PENDING.
        foreach (var order in orders)
        {
            reservations.TryGetValue(order.Id, out var reservation);
            payments.TryGetValue(order.Id, out var payment);
            violations.AddRange(HoldingViolations(order, reservation, payment, unknownSkus));
        }

        // 6. Each order's timeline matches its state; no event for an order that does not exist.
        var eventsByOrder = snapshot.Events.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.OrderBy(e => e.Sequence).ToList());
        foreach (var order in orders)
            violations.AddRange(TimelineViolations(order, eventsByOrder.GetValueOrDefault(order.Id) ?? []));
        var known = orders.Select(o => o.Id).ToHashSet();
        foreach (var orphan in eventsByOrder.Keys.Where(id => !known.Contains(id)))
            violations.Add($"timeline of {orphan}: {eventsByOrder[orphan].Count} events for an order that does not exist");
        foreach (var duplicate in snapshot.Events.GroupBy(e => e.EventId).Where(g => g.Count() > 1))
            violations.Add($"event_id {duplicate.Key} used {duplicate.Count()} times");

        // No live reservation or authorization for an order the orders database does not know.
        foreach (var r in reservations.Values.Where(r => r.Status == Reserved && !known.Contains(r.OrderId)))
            violations.Add($"RESERVED reservation {r.OrderId} ({r}) for an order that does not exist");
        foreach (var p in payments.Values.Where(p => p.Status == Authorized && !known.Contains(p.OrderId)))
            violations.Add($"AUTHORIZED payment {p.OrderId} ({p.Amount}) for an order that does not exist");
    }

    /// <summary>
    /// Invariant 6, the part that leaves the system: every event of every timeline reached the consumer at least once (by
    /// its id), each delivery names the order and sequence of its timeline row, and per order the first delivery of each
    /// event came in sequence order. Later deliveries of an id (at least once: a relay or broker crash redelivers) are
    /// allowed and counted; a consumer dedupes them on the id.
    /// </summary>
    public static void CheckDeliveries(ChaosResult result, IReadOnlyList<EventRow> events, IReadOnlyList<Delivery> deliveries)
    {
        var violations = result.Violations;
        var byId = events.GroupBy(e => e.EventId).ToDictionary(g => g.Key, g => g.First());
        var firstSeen = new HashSet<Guid>();
        var firstSequences = new Dictionary<Guid, List<int>>(); // order → sequences of its first deliveries, in arrival order
        foreach (var delivery in deliveries)
        {
            if (!Guid.TryParse(delivery.Id, out var id))
            {
                violations.Add($"delivery with id '{delivery.Id}' (subject {delivery.Subject}) that is not an event id");
                continue;
            }
            if (!firstSeen.Add(id)) continue;
            if (!byId.TryGetValue(id, out var row))
            {
                violations.Add($"delivered event {id} (order {delivery.Subject}, sequence {delivery.Sequence}) is in no timeline");
                continue;
            }
            if (!Guid.TryParse(delivery.Subject, out var subject) || subject != row.OrderId || delivery.Sequence != row.Sequence)
                violations.Add($"delivered event {id} names order {delivery.Subject} sequence {delivery.Sequence}, its timeline row order {row.OrderId} sequence {row.Sequence}");
            if (!firstSequences.TryGetValue(row.OrderId, out var sequences)) firstSequences[row.OrderId] = sequences = [];
            sequences.Add(row.Sequence);
        }

        var missing = events.Where(e => !firstSeen.Contains(e.EventId)).ToList();
        foreach (var e in missing)
            violations.Add($"event {e.EventId} ({e.Type}, order {e.OrderId} sequence {e.Sequence}) was never delivered");
        foreach (var (orderId, sequences) in firstSequences)
            if (sequences.Zip(sequences.Skip(1)).Any(pair => pair.First >= pair.Second))
                violations.Add($"events of order {orderId} first delivered in sequence order {string.Join(",", sequences)}, not increasing");

        result.EventDeliveries = deliveries.Count;
        result.EventsDelivered = events.Count - missing.Count;
        result.DuplicateDeliveries = deliveries.Count - firstSeen.Count;
    }

    /// <summary>What the placing and cancel requests of one key were told, against the order stored for it.</summary>
    public static IEnumerable<string> AnswerViolations(OrderPlan plan, OrderRow stored)
    {
        var cancelSent = !plan.CancelReplies.IsEmpty;
        foreach (var a in plan.Replies.Where(r => r.Status is 200 or 201 or 202))
        {
            if (a.OrderId != stored.Id.ToString())
                yield return $"key {plan.Key}: answered order {a.OrderId}, stored {stored.Id}";
            if (a.Status is 200 or 201)
            {
                var same = a.OrderStatus == stored.Status && a.FailureReason == stored.Reason;
                // A CONFIRMED answer, then a cancel: the order is CANCELLED now.
                var cancelledSince = cancelSent && stored.Status == Cancelled && a.OrderStatus == Confirmed;
                if (a.OrderStatus == Pending || !(same || cancelledSince))
                    yield return $"key {plan.Key}: answered {a.Status} {a.OrderStatus}/{a.FailureReason}, stored {stored.Status}/{stored.Reason}";
            }
            if (a.Status == 202 && a.OrderStatus != Pending)
                yield return $"key {plan.Key}: answered 202 with status {a.OrderStatus}";
        }

        if (plan.CancelReplies.FirstOrDefault(c => c.Accepted) is { } accepted && stored.Status != Cancelled)
            yield return $"{stored.Status} {stored.Id} ({plan.Key}): a cancel was answered {accepted.Status} ({accepted.OrderStatus}), so it must end CANCELLED";
        if (plan.CancelReplies.Any(c => c.NotCancellable) && stored.Status != Failed)
            yield return $"{stored.Status} {stored.Id} ({plan.Key}): a cancel was answered 409 order_not_cancellable, which only a FAILED order gets";
        if (!cancelSent && stored.Status == Cancelled)
            yield return $"CANCELLED {stored.Id} ({plan.Key}) although no cancel was ever sent for it";
    }

    /// <summary>Invariants 4 and 5 for one order: what it holds in inventory and payments matches its state, which is final.</summary>
    public static IEnumerable<string> HoldingViolations(OrderRow order, ReservationRow? reservation, PaymentRow? payment, IReadOnlySet<string> unknownSkus)
    {
        var lines = $"[{string.Join(", ", order.Lines)}]";
        var unknownLine = order.Lines.Any(l => unknownSkus.Contains(l.Sku));
        switch (order.Status)
        {
            case Confirmed:
                if (reservation is not { Status: Reserved } || !OrderPlan.SameLines(reservation.Lines, order.Lines))
                    yield return $"CONFIRMED {order.Id} {lines} has reservation {Describe(reservation)}";
                if (payment is not { Status: Authorized } || payment.Amount != order.Amount)
                    yield return $"CONFIRMED {order.Id} (amount {order.Amount}) has payment {Describe(payment)}";
                if (order.Amount >= 1000m) yield return $"CONFIRMED {order.Id} with amount {order.Amount} ≥ 1000 (should be declined)";
                if (unknownLine) yield return $"CONFIRMED {order.Id} with a line of an unknown item: {lines}";
                break;
            case Failed or Cancelled:
                var what = $"{order.Status} {order.Id}{(order.Reason is null ? "" : $" ({order.Reason})")}";
                if (reservation is { Status: Reserved })
                    yield return $"{what} still holds a RESERVED reservation {reservation}";
                if (payment is { Status: Authorized })
                    yield return $"{what} still has an AUTHORIZED payment of {payment.Amount}";
                if (order.Reason == "PAYMENT_DECLINED" && order.Amount < 1000m)
                    yield return $"{what} with amount {order.Amount} < 1000";
                if (order.Reason == "UNKNOWN_ITEM" && !unknownLine)
                    yield return $"{what} although every line is a received item: {lines}";
                // A basket with an unknown and a short line may fail either way; a one-line order cannot.
                if ((order.Reason == "PAYMENT_DECLINED" || order.Reason == "INSUFFICIENT_STOCK" && order.Lines.Count == 1) && unknownLine)
                    yield return $"{what} with a line of an unknown item: {lines}";
                if (order.Status == Cancelled && order.Reason is not null)
                    yield return $"{what}: a CANCELLED order has no failure reason";
                break;
            case Pending:
                yield return $"order {order.Id} ({order.Key}) still PENDING after the drain";
                break;
            default:
                yield return $"order {order.Id} ({order.Key}) has status {order.Status}, not one of PENDING, CONFIRMED, FAILED, CANCELLED";
                break;
        }
    }

    /// <summary>
    /// Invariant 6 (the timeline part) for one order: sequence 1..n without gaps; order.created first; each transition once;
    /// the events match the final state — CONFIRMED: created, stock_reserved, payment_authorized, confirmed; FAILED: ends
    /// with order.failed naming its reason, no cancel; CANCELLED: cancel_requested, then order.cancelled last, never failed.
    /// </summary>
    public static IEnumerable<string> TimelineViolations(OrderRow order, IReadOnlyList<EventRow> events)
    {
        var what = $"timeline of {order.Status} {order.Id}";
        if (events.Count == 0)
        {
            yield return $"{what}: no events";
            yield break;
        }
        var sequences = events.Select(e => e.Sequence).Order().ToList();
        if (!sequences.SequenceEqual(Enumerable.Range(1, events.Count)))
            yield return $"{what}: sequences {string.Join(",", sequences)}, not 1..{events.Count} without gaps";
        var ordered = events.OrderBy(e => e.Sequence).ToList();
        var types = ordered.Select(e => e.Type).ToList();
        var shown = $"[{string.Join(", ", types)}]";
        foreach (var unknown in types.Where(t => !EventTypes.Contains(t)).Distinct())
            yield return $"{what}: unknown event type {unknown}";
        foreach (var twice in types.GroupBy(t => t).Where(g => g.Count() > 1))
            yield return $"{what}: {twice.Key} {twice.Count()} times {shown}";
        if (types[0] != Created) yield return $"{what}: starts with {types[0]}, not {Created} {shown}";

        int At(string type) => types.IndexOf(type);
        var last = types[^1];
        switch (order.Status)
        {
            case Confirmed:
                if (types.Contains(CancelRequested))
                    yield return $"{what}: a cancel was requested but never finished (still CONFIRMED) {shown}";
                else if (!types.SequenceEqual([Created, StockReserved, PaymentAuthorized, OrderConfirmed]))
                    yield return $"{what}: {shown}, not created, stock_reserved, payment_authorized, confirmed";
                break;
            case Failed:
                if (last != OrderFailed) yield return $"{what}: ends with {last}, not {OrderFailed} {shown}";
                else if (ordered[^1].FailureReason != order.Reason)
                    yield return $"{what}: {OrderFailed} names {ordered[^1].FailureReason ?? "no reason"}, the order {order.Reason}";
                foreach (var never in new[] { OrderConfirmed, CancelRequested, OrderCancelled }.Where(types.Contains))
                    yield return $"{what}: has {never} {shown}";
                break;
            case Cancelled:
                if (last != OrderCancelled) yield return $"{what}: ends with {last}, not {OrderCancelled} {shown}";
                if (At(CancelRequested) < 0) yield return $"{what}: no {CancelRequested} {shown}";
                else if (At(CancelRequested) > At(OrderCancelled)) yield return $"{what}: {CancelRequested} after {OrderCancelled} {shown}";
                if (types.Contains(OrderFailed)) yield return $"{what}: has {OrderFailed} {shown}";
                if (At(OrderConfirmed) >= 0 && At(CancelRequested) >= 0 && At(OrderConfirmed) > At(CancelRequested))
                    yield return $"{what}: confirmed after the cancel was requested {shown}";
                break;
            case Pending:
                foreach (var final in new[] { OrderConfirmed, OrderFailed, OrderCancelled }.Where(types.Contains))
                    yield return $"{what}: has {final} although the order is PENDING {shown}";
                break;
        }
    }

    private static long Units(IEnumerable<OrderLine> lines, string sku) => lines.Where(l => l.Sku == sku).Sum(l => (long)l.Quantity);

    private static string Describe(object? row) => row?.ToString() ?? "none";
}
