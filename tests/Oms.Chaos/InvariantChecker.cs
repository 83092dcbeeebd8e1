using Npgsql;

namespace Oms.Chaos;

/// <summary>
/// Checks the invariants of DESIGN.md directly against the three databases (never through the services),
/// plus what the clients were told: every answer about a key names the one order the database holds for it.
/// </summary>
public static class InvariantChecker
{
    private sealed record Order(Guid Id, string Key, string Sku, int Quantity, decimal Amount, string Status, string? Reason);
    private sealed record Reservation(Guid OrderId, string? Sku, int Quantity, string Status);
    private sealed record Payment(Guid OrderId, decimal Amount, string Status);

    public static async Task CheckAsync(ChaosResult result, string ordersDb, string inventoryDb, string paymentsDb,
        IReadOnlyDictionary<string, long> received, IReadOnlySet<string> unknownSkus, IReadOnlyList<OrderPlan> plans)
    {
        var violations = result.Violations;
        var orders = await ReadAsync(ordersDb,
            "SELECT order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason FROM orders",
            r => new Order(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetDecimal(4), r.GetString(5),
                r.IsDBNull(6) ? null : r.GetString(6)));
        var reservations = (await ReadAsync(inventoryDb, "SELECT order_id, sku, quantity, status FROM reservations",
            r => new Reservation(r.GetGuid(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetInt32(2), r.GetString(3))))
            .ToDictionary(r => r.OrderId);
        var payments = (await ReadAsync(paymentsDb, "SELECT order_id, amount, status FROM payments",
            r => new Payment(r.GetGuid(0), r.GetDecimal(1), r.GetString(2)))).ToDictionary(p => p.OrderId);
        var available = (await ReadAsync(inventoryDb, "SELECT sku, available FROM items",
            r => (Sku: r.GetString(0), Available: r.GetInt64(1)))).ToDictionary(i => i.Sku, i => i.Available);

        foreach (var group in orders.GroupBy(o => o.Status + (o.Reason is null ? "" : "/" + o.Reason)))
            result.OrdersByOutcome[group.Key] = group.Count();
        result.PendingAfterDrain = orders.Count(o => o.Status == "PENDING");

        // 2. No negative stock; no item we never received.
        foreach (var (sku, qty) in available)
        {
            if (qty < 0) violations.Add($"negative stock: {sku} available {qty}");
            if (!received.ContainsKey(sku)) violations.Add($"stock item {sku} exists but was never received");
        }

        // 1. Conservation per SKU.
        foreach (var (sku, got) in received)
        {
            var now = available.GetValueOrDefault(sku);
            var confirmed = orders.Where(o => o.Sku == sku && o.Status == "CONFIRMED").Sum(o => (long)o.Quantity);
            var held = reservations.Values.Where(r => r.Sku == sku && r.Status == "RESERVED").Sum(r => (long)r.Quantity);
            var heldByPending = orders.Where(o => o.Sku == sku && o.Status == "PENDING")
                .Sum(o => reservations.TryGetValue(o.Id, out var r) && r.Status == "RESERVED" ? (long)r.Quantity : 0);
            if (got != now + held)
                violations.Add($"conservation (inventory) {sku}: received {got} != available {now} + RESERVED {held}");
            if (got != now + confirmed + heldByPending)
                violations.Add($"conservation {sku}: received {got} != available {now} + CONFIRMED {confirmed} + held by PENDING {heldByPending}");
        }

        // 3. One order per idempotency key, with the payload sent for that key.
        var plansByKey = plans.ToDictionary(p => p.Key);
        var ordersByKey = new Dictionary<string, Order>();
        foreach (var order in orders)
        {
            if (!ordersByKey.TryAdd(order.Key, order)) violations.Add($"two orders for key {order.Key}");
            if (!plansByKey.TryGetValue(order.Key, out var plan))
            {
                violations.Add($"order {order.Id} has key {order.Key} that was never sent");
                continue;
            }
            if (plan.Sku != order.Sku || plan.Quantity != order.Quantity || plan.Amount != order.Amount)
                violations.Add($"order {order.Id} ({order.Key}) stored {order.Sku}/{order.Quantity}/{order.Amount}, sent {plan.Sku}/{plan.Quantity}/{plan.Amount}");
        }

        // What the clients were told agrees with the database.
        var keysWithoutOrder = 0;
        foreach (var plan in plans)
        {
            var answers = plan.Replies.Where(r => r.Status is 200 or 201 or 202).ToList();
            ordersByKey.TryGetValue(plan.Key, out var stored);
            if (stored is null)
            {
                if (plan.Replies.Count > 0) keysWithoutOrder++;
                if (answers.Count > 0) violations.Add($"key {plan.Key} was answered {answers[0].Status} ({answers[0].OrderId}) but no order is stored");
                continue;
            }
            foreach (var a in answers)
            {
                if (a.OrderId != stored.Id.ToString())
                    violations.Add($"key {plan.Key}: answered order {a.OrderId}, stored {stored.Id}");
                if (a.Status is 200 or 201 && (a.OrderStatus == "PENDING" || a.OrderStatus != stored.Status || a.FailureReason != stored.Reason))
                    violations.Add($"key {plan.Key}: answered {a.Status} {a.OrderStatus}/{a.FailureReason}, stored {stored.Status}/{stored.Reason}");
                if (a.Status == 202 && a.OrderStatus != "PENDING")
                    violations.Add($"key {plan.Key}: answered 202 with status {a.OrderStatus}");
            }
        }
        result.OrdersByOutcome["(keys sent, no order stored: every request failed before the insert)"] = keysWithoutOrder;

        // 4/5. CONFIRMED ⇔ one RESERVED reservation of its sku/quantity and one AUTHORIZED payment of its amount;
        //      FAILED ⇒ no RESERVED reservation, no AUTHORIZED payment.
        foreach (var order in orders)
        {
            reservations.TryGetValue(order.Id, out var reservation);
            payments.TryGetValue(order.Id, out var payment);
            switch (order.Status)
            {
                case "CONFIRMED":
                    if (reservation is not { Status: "RESERVED" } || reservation.Sku != order.Sku || reservation.Quantity != order.Quantity)
                        violations.Add($"CONFIRMED {order.Id} ({order.Sku} x{order.Quantity}) has reservation {Describe(reservation)}");
                    if (payment is not { Status: "AUTHORIZED" } || payment.Amount != order.Amount)
                        violations.Add($"CONFIRMED {order.Id} (amount {order.Amount}) has payment {Describe(payment)}");
                    if (order.Amount >= 1000m) violations.Add($"CONFIRMED {order.Id} with amount {order.Amount} ≥ 1000 (should be declined)");
                    if (unknownSkus.Contains(order.Sku)) violations.Add($"CONFIRMED {order.Id} for unknown item {order.Sku}");
                    break;
                case "FAILED":
                    if (reservation is { Status: "RESERVED" })
                        violations.Add($"FAILED {order.Id} ({order.Reason}) still holds a RESERVED reservation of {reservation.Quantity}");
                    if (payment is { Status: "AUTHORIZED" })
                        violations.Add($"FAILED {order.Id} ({order.Reason}) still has an AUTHORIZED payment of {payment.Amount}");
                    if (order.Reason == "PAYMENT_DECLINED" && order.Amount < 1000m)
                        violations.Add($"FAILED {order.Id} PAYMENT_DECLINED with amount {order.Amount} < 1000");
                    if (order.Reason == "UNKNOWN_ITEM" && !unknownSkus.Contains(order.Sku))
                        violations.Add($"FAILED {order.Id} UNKNOWN_ITEM for received item {order.Sku}");
                    if (order.Reason is "INSUFFICIENT_STOCK" or "PAYMENT_DECLINED" && unknownSkus.Contains(order.Sku))
                        violations.Add($"FAILED {order.Id} {order.Reason} for unknown item {order.Sku}");
                    break;
                case "PENDING":
                    violations.Add($"order {order.Id} ({order.Key}) still PENDING after the drain");
                    break;
            }
        }

        // No live reservation or authorization for an order the orders database does not know.
        var known = orders.Select(o => o.Id).ToHashSet();
        foreach (var r in reservations.Values.Where(r => r.Status == "RESERVED" && !known.Contains(r.OrderId)))
            violations.Add($"RESERVED reservation {r.OrderId} ({r.Sku} x{r.Quantity}) for an order that does not exist");
        foreach (var p in payments.Values.Where(p => p.Status == "AUTHORIZED" && !known.Contains(p.OrderId)))
            violations.Add($"AUTHORIZED payment {p.OrderId} ({p.Amount}) for an order that does not exist");
    }

    public static async Task<long> CountPendingAsync(string ordersDb, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(Unpooled(ordersDb));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM orders WHERE status = 'PENDING'", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    private static string Describe(object? row) => row?.ToString() ?? "none";

    private static string Unpooled(string cs) => new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString;

    private static async Task<List<T>> ReadAsync<T>(string cs, string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(Unpooled(cs));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync()) rows.Add(read(reader));
        return rows;
    }
}
