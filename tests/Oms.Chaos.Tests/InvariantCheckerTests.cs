using Oms.Chaos;
using Oms.Testing;
using Xunit;
using static Oms.Chaos.InvariantChecker;

namespace Oms.Chaos.Tests;

/// <summary>
/// The checker itself. Its rules over hand-made snapshots (no database): a consistent state with multi-line, cancelled
/// and failed orders passes, and each broken rule of invariants 1, 4, 5 and 6 is reported. Then the same against
/// real databases migrated by the services' own migrations, so the snapshot reads the tables as they are.
/// </summary>
public sealed class InvariantCheckerTests
{
    private static readonly HashSet<string> Unknown = ["NEVER"];

    /// <summary>Received: A 20, B 10. A confirmed basket (A x3, B x2), a declined basket, a cancelled confirmed order, a failed one.</summary>
    private sealed class World
    {
        public readonly Guid Confirmed = Guid.NewGuid(), Declined = Guid.NewGuid(), Cancelled = Guid.NewGuid(), OutOfStock = Guid.NewGuid();
        public readonly List<OrderRow> Orders = [];
        public readonly Dictionary<Guid, ReservationRow> Reservations = [];
        public readonly Dictionary<Guid, PaymentRow> Payments = [];
        public readonly Dictionary<string, long> Available = new() { ["A"] = 17, ["B"] = 8 };
        public readonly List<EventRow> Events = [];
        public readonly List<OrderPlan> Plans = [];
        public readonly Dictionary<string, long> Received = new() { ["A"] = 20, ["B"] = 10 };

        public World()
        {
            Order(Confirmed, "k1", 10m, "CONFIRMED", null, [new("A", 3), new("B", 2)], CancelMode.None,
                [Created, StockReserved, PaymentAuthorized, OrderConfirmed]);
            Reservations[Confirmed] = new(Confirmed, "RESERVED", [new("B", 2), new("A", 3)]);
            Payments[Confirmed] = new(Confirmed, 10m, "AUTHORIZED");

            Order(Declined, "k2", 1500m, "FAILED", "PAYMENT_DECLINED", [new("A", 1), new("B", 1)], CancelMode.None,
                [Created, StockReserved, OrderFailed]);
            Reservations[Declined] = new(Declined, "RELEASED", [new("A", 1), new("B", 1)]);
            Payments[Declined] = new(Declined, 1500m, "DECLINED");

            Order(Cancelled, "k3", 20m, "CANCELLED", null, [new("A", 4)], CancelMode.AfterAnswer,
                [Created, StockReserved, PaymentAuthorized, OrderConfirmed, CancelRequested, OrderCancelled]);
            Reservations[Cancelled] = new(Cancelled, "RELEASED", [new("A", 4)]);
            Payments[Cancelled] = new(Cancelled, 20m, "VOIDED");
            Answer("k3", Cancelled, 201, "CONFIRMED", null);
            CancelAnswer("k3", 200, "CANCELLED", null);

            Order(OutOfStock, "k4", 5m, "FAILED", "INSUFFICIENT_STOCK", [new("A", 900_000)], CancelMode.AfterAnswer, [Created, OrderFailed]);
            Reservations[OutOfStock] = new(OutOfStock, "RELEASED", []);
            Answer("k4", OutOfStock, 201, "FAILED", "INSUFFICIENT_STOCK");
            CancelAnswer("k4", 409, null, "order_not_cancellable");
        }

        public void Order(Guid id, string key, decimal amount, string status, string? reason, List<OrderLine> lines, CancelMode cancel, string[] events)
        {
            Orders.Add(new OrderRow(id, key, amount, status, reason, lines));
            Plans.Add(new OrderPlan(Plans.Count, key, lines, amount, false, false, cancel: cancel));
            for (var i = 0; i < events.Length; i++)
                Events.Add(new EventRow(Guid.NewGuid(), id, i + 1, events[i], events[i] == OrderFailed ? reason : null));
        }

        public void Answer(string key, Guid id, int status, string orderStatus, string? reason) =>
            Plan(key).Replies.Enqueue(new Reply(0, status.ToString(), status, id.ToString(), orderStatus, reason, status == 200, null));

        public void CancelAnswer(string key, int status, string? orderStatus, string? problem) =>
            Plan(key).CancelReplies.Enqueue(new CancelReply(0, status.ToString(), status, orderStatus, problem));

        public OrderPlan Plan(string key) => Plans.Single(p => p.Key == key);

        public void Replace(Guid id, Func<OrderRow, OrderRow> change)
        {
            var i = Orders.FindIndex(o => o.Id == id);
            Orders[i] = change(Orders[i]);
        }

        public List<string> Check()
        {
            var result = new ChaosResult();
            InvariantChecker.Check(result, new SystemSnapshot(Orders, Reservations, Payments, Available, Events), Received, Unknown, Plans);
            return result.Violations;
        }
    }

    [Fact]
    public void AConsistentStatePasses()
    {
        var world = new World();
        var result = new ChaosResult();
        InvariantChecker.Check(result, new SystemSnapshot(world.Orders, world.Reservations, world.Payments, world.Available, world.Events),
            world.Received, Unknown, world.Plans);
        Assert.Empty(result.Violations);
        Assert.Equal(0, result.PendingAfterDrain);
        Assert.Equal(1, result.OrdersByOutcome["CANCELLED"]);
        Assert.Equal(2, result.OrdersByLineCount[2]);
        Assert.Equal(15, result.TimelineEvents);
    }

    [Fact]
    public void ConservationIsCheckedPerSkuOverLines()
    {
        var world = new World();
        world.Available["B"] = 9; // one unit of B appeared from nowhere
        var violations = world.Check();
        Assert.Contains(violations, v => v.StartsWith("conservation B", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("conservation (inventory) B", StringComparison.Ordinal));
        Assert.DoesNotContain(violations, v => v.Contains("conservation A", StringComparison.Ordinal));
    }

    [Fact]
    public void ACancelledOrderThatStillHoldsStockOrMoneyIsReported()
    {
        var world = new World();
        world.Reservations[world.Cancelled] = world.Reservations[world.Cancelled] with { Status = "RESERVED" };
        world.Available["A"] = 13;
        world.Payments[world.Cancelled] = world.Payments[world.Cancelled] with { Status = "AUTHORIZED" };
        var violations = world.Check();
        Assert.Contains(violations, v => v.StartsWith($"CANCELLED {world.Cancelled} still holds a RESERVED", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith($"CANCELLED {world.Cancelled} still has an AUTHORIZED", StringComparison.Ordinal));
        // Inventory's books balance (the units are held), but a CANCELLED order holds nothing.
        Assert.Contains(violations, v => v.StartsWith("conservation A", StringComparison.Ordinal));
        Assert.DoesNotContain(violations, v => v.StartsWith("conservation (inventory) A", StringComparison.Ordinal));
    }

    [Fact]
    public void AConfirmedOrderHoldsOneReservationOfAllItsLines()
    {
        var world = new World();
        world.Reservations[world.Confirmed] = new(world.Confirmed, "RESERVED", [new("A", 3)]); // B's line missing
        world.Available["B"] = 10;
        var violations = world.Check();
        Assert.Contains(violations, v => v.StartsWith($"CONFIRMED {world.Confirmed} [A x3, B x2] has reservation RESERVED [A x3]", StringComparison.Ordinal));

        world = new World();
        world.Payments.Remove(world.Confirmed);
        Assert.Contains(world.Check(), v => v.StartsWith($"CONFIRMED {world.Confirmed} (amount 10) has payment none", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryOrderIsFinal()
    {
        var world = new World();
        world.Replace(world.Declined, o => o with { Status = "PENDING", Reason = null });
        world.Events.RemoveAll(e => e.OrderId == world.Declined && e.Type == OrderFailed);
        world.Reservations[world.Declined] = world.Reservations[world.Declined] with { Status = "RESERVED" };
        world.Available["A"] = 16;
        world.Available["B"] = 7;
        var violations = world.Check();
        Assert.Contains(violations, v => v.Contains($"{world.Declined} (k2) still PENDING", StringComparison.Ordinal));
        Assert.DoesNotContain(violations, v => v.StartsWith("conservation", StringComparison.Ordinal)); // held by PENDING counts
    }

    [Fact]
    public void WhatACancelWasToldMustMatchTheFinalState()
    {
        // Taken (200/202) → must end CANCELLED.
        var world = new World();
        world.CancelAnswer("k1", 202, "PENDING", null);
        Assert.Contains(world.Check(), v => v.StartsWith($"CONFIRMED {world.Confirmed} (k1): a cancel was answered 202", StringComparison.Ordinal));

        // 409 order_not_cancellable → must be FAILED.
        world = new World();
        world.CancelAnswer("k3", 409, null, "order_not_cancellable");
        Assert.Contains(world.Check(), v => v.StartsWith($"CANCELLED {world.Cancelled} (k3): a cancel was answered 409", StringComparison.Ordinal));

        // CANCELLED without any cancel sent.
        world = new World();
        world.Plan("k3").CancelReplies.Clear();
        var violations = world.Check();
        Assert.Contains(violations, v => v == $"CANCELLED {world.Cancelled} (k3) although no cancel was ever sent for it");
        // …and then its 201 CONFIRMED no longer agrees with the stored state either.
        Assert.Contains(violations, v => v.StartsWith("key k3: answered 201 CONFIRMED", StringComparison.Ordinal));
    }

    [Fact]
    public void ThePayloadStoredIsTheOneSentWithLinesAsASet()
    {
        var world = new World();
        world.Replace(world.Confirmed, o => o with { Lines = [new("B", 2), new("A", 3)] }); // same set, other order: fine
        Assert.Empty(world.Check());

        world.Replace(world.Confirmed, o => o with { Lines = [new("A", 3)] });
        Assert.Contains(world.Check(), v => v.StartsWith($"order {world.Confirmed} (k1) stored [A x3]/10, sent [A x3, B x2]/10", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("CONFIRMED", null, new[] { Created, StockReserved, OrderConfirmed }, "not created, stock_reserved, payment_authorized, confirmed")]
    [InlineData("CONFIRMED", null, new[] { Created, StockReserved, PaymentAuthorized, CancelRequested, OrderConfirmed }, "a cancel was requested but never finished")]
    [InlineData("CONFIRMED", null, new[] { Created, StockReserved, PaymentAuthorized, OrderConfirmed, CancelRequested }, "a cancel was requested but never finished")]
    [InlineData("FAILED", "INSUFFICIENT_STOCK", new[] { Created, OrderFailed, CancelRequested }, "ends with order.cancel_requested")]
    [InlineData("FAILED", "INSUFFICIENT_STOCK", new[] { Created, CancelRequested, OrderFailed }, "has order.cancel_requested")]
    [InlineData("CANCELLED", null, new[] { Created, OrderCancelled }, "no order.cancel_requested")]
    [InlineData("CANCELLED", null, new[] { Created, CancelRequested, OrderCancelled, OrderConfirmed }, "ends with order.confirmed")]
    [InlineData("CANCELLED", null, new[] { Created, CancelRequested, OrderFailed, OrderCancelled }, "has order.failed")]
    [InlineData("CANCELLED", null, new[] { Created, CancelRequested, StockReserved, PaymentAuthorized, OrderConfirmed, OrderCancelled }, "confirmed after the cancel")]
    [InlineData("CANCELLED", null, new[] { Created, CancelRequested, CancelRequested, OrderCancelled }, "order.cancel_requested 2 times")]
    [InlineData("FAILED", "INSUFFICIENT_STOCK", new[] { StockReserved, Created, OrderFailed }, "starts with order.stock_reserved")]
    [InlineData("FAILED", "INSUFFICIENT_STOCK", new[] { Created, "order.shipped", OrderFailed }, "unknown event type order.shipped")]
    [InlineData("PENDING", null, new[] { Created, OrderConfirmed }, "has order.confirmed although the order is PENDING")]
    public void ATimelineThatDoesNotMatchTheStateIsReported(string status, string? reason, string[] types, string expected)
    {
        var order = new OrderRow(Guid.NewGuid(), "k", 1m, status, reason, [new("A", 1)]);
        var events = types.Select((t, i) => new EventRow(Guid.NewGuid(), order.Id, i + 1, t, t == OrderFailed ? reason : null)).ToList();
        var violations = TimelineViolations(order, events).ToList();
        Assert.True(violations.Any(v => v.Contains(expected, StringComparison.Ordinal)), string.Join(Environment.NewLine, violations));
    }

    [Fact]
    public void SequencesCountFromOneWithoutGapsAndTheFailureNamesItsReason()
    {
        var order = new OrderRow(Guid.NewGuid(), "k", 1m, "FAILED", "PAYMENT_DECLINED", [new("A", 1)]);
        EventRow Event(int sequence, string type, string? reason = null) => new(Guid.NewGuid(), order.Id, sequence, type, reason);

        Assert.Empty(TimelineViolations(order, [Event(1, Created), Event(2, StockReserved), Event(3, OrderFailed, "PAYMENT_DECLINED")]));
        Assert.Contains(TimelineViolations(order, [Event(1, Created), Event(3, StockReserved), Event(4, OrderFailed, "PAYMENT_DECLINED")]),
            v => v.Contains("sequences 1,3,4, not 1..3 without gaps", StringComparison.Ordinal));
        Assert.Contains(TimelineViolations(order, [Event(2, Created), Event(3, OrderFailed, "PAYMENT_DECLINED")]),
            v => v.Contains("not 1..2", StringComparison.Ordinal));
        Assert.Contains(TimelineViolations(order, [Event(1, Created), Event(2, OrderFailed, "INSUFFICIENT_STOCK")]),
            v => v.Contains("order.failed names INSUFFICIENT_STOCK, the order PAYMENT_DECLINED", StringComparison.Ordinal));
        Assert.Contains(TimelineViolations(order, []), v => v.EndsWith(": no events", StringComparison.Ordinal));
    }

    [Fact]
    public void UnexpectedErrorsAreGroupedByKindNotByKeyOrReplica()
    {
        var a = "400 from replica 0 for key chaos-7-000002: {\"status\":400,\"code\":\"validation_failed\",\"trace_id\":\"00-aa\"}";
        var b = "400 from replica 1 for key chaos-7-000011: {\"status\":400,\"code\":\"validation_failed\",\"trace_id\":\"00-bb\"}";
        var c = $"cancel 404 from replica 1 for {Guid.NewGuid()} (chaos-7-000003): {{\"code\":\"not_found\"}}";
        Assert.Equal(ChaosResult.ErrorKind(a), ChaosResult.ErrorKind(b));
        Assert.NotEqual(ChaosResult.ErrorKind(a), ChaosResult.ErrorKind(c));
        Assert.Equal("cancel 404 from * for * (*) not_found", ChaosResult.ErrorKind(c));

        var result = new ChaosResult();
        result.UnexpectedErrors.AddRange([a, b, c]);
        using var report = new StringWriter();
        result.Print(report);
        Assert.Contains($"  - 2 x {a}", report.ToString());
        Assert.Contains($"  - 1 x {c}", report.ToString());
    }

    private static Delivery Delivered(EventRow e) => new(e.EventId.ToString(), e.OrderId.ToString(), e.Sequence);

    /// <summary>Every event of the world once, the orders interleaved (round robin), each order's in sequence order.</summary>
    private static List<Delivery> InterleavedDeliveries(World world)
    {
        var perOrder = world.Events.GroupBy(e => e.OrderId).Select(g => new Queue<EventRow>(g.OrderBy(e => e.Sequence))).ToList();
        var deliveries = new List<Delivery>();
        while (perOrder.Any(q => q.Count > 0))
            foreach (var queue in perOrder.Where(q => q.Count > 0))
                deliveries.Add(Delivered(queue.Dequeue()));
        return deliveries;
    }

    private static ChaosResult CheckDeliveries(World world, List<Delivery> deliveries)
    {
        var result = new ChaosResult();
        InvariantChecker.CheckDeliveries(result, world.Events, deliveries);
        return result;
    }

    [Fact]
    public void EveryEventDeliveredOnceInSequenceOrderPerOrderPasses()
    {
        var world = new World();
        var result = CheckDeliveries(world, InterleavedDeliveries(world));
        Assert.Empty(result.Violations);
        Assert.Equal(15, result.EventDeliveries);
        Assert.Equal(15, result.EventsDelivered);
        Assert.Equal(0, result.DuplicateDeliveries);
    }

    [Fact]
    public void DuplicatesAreAllowedAndCountedEvenWhenTheyComeBackOutOfOrder()
    {
        var world = new World();
        var deliveries = InterleavedDeliveries(world);
        // A broker restart redelivers what was unacked: a second copy of three events, the later ones before the earlier.
        var cancelled = world.Events.Where(e => e.OrderId == world.Cancelled).OrderBy(e => e.Sequence).ToList();
        deliveries.AddRange([Delivered(cancelled[4]), Delivered(cancelled[1]), Delivered(cancelled[0])]);
        // And a relay crash between publish and mark-sent publishes one again right after the first copy.
        var declined = world.Events.First(e => e.OrderId == world.Declined && e.Sequence == 2);
        deliveries.Insert(deliveries.FindIndex(d => d.Id == declined.EventId.ToString()) + 1, Delivered(declined));

        var result = CheckDeliveries(world, deliveries);
        Assert.Empty(result.Violations);
        Assert.Equal(19, result.EventDeliveries);
        Assert.Equal(15, result.EventsDelivered);
        Assert.Equal(4, result.DuplicateDeliveries);
    }

    [Fact]
    public void AnEventNeverDeliveredIsReported()
    {
        var world = new World();
        var lost = world.Events.Single(e => e.OrderId == world.Confirmed && e.Sequence == 3);
        var deliveries = InterleavedDeliveries(world);
        deliveries.RemoveAll(d => d.Id == lost.EventId.ToString());

        var result = CheckDeliveries(world, deliveries);
        Assert.Equal([$"event {lost.EventId} ({PaymentAuthorized}, order {world.Confirmed} sequence 3) was never delivered"], result.Violations);
        Assert.Equal(14, result.EventsDelivered);
        Assert.Equal(0, result.DuplicateDeliveries);
    }

    [Fact]
    public void FirstDeliveriesOutOfSequenceOrderAreReportedAndALaterCopyDoesNotRepairThem()
    {
        var world = new World();
        var deliveries = InterleavedDeliveries(world);
        var events = world.Events.Where(e => e.OrderId == world.Confirmed).OrderBy(e => e.Sequence).ToList();
        int At(EventRow e) => deliveries.FindIndex(d => d.Id == e.EventId.ToString());
        // Swap the first deliveries of sequences 2 and 3, then deliver both again in the right order.
        (deliveries[At(events[1])], deliveries[At(events[2])]) = (deliveries[At(events[2])], deliveries[At(events[1])]);
        deliveries.AddRange([Delivered(events[1]), Delivered(events[2])]);

        var result = CheckDeliveries(world, deliveries);
        Assert.Equal([$"events of order {world.Confirmed} first delivered in sequence order 1,3,2,4, not increasing"], result.Violations);
        Assert.Equal(15, result.EventsDelivered);
        Assert.Equal(2, result.DuplicateDeliveries);
    }

    [Fact]
    public void ADeliveryThatIsNoTimelineEventOrNamesTheWrongOrderOrSequenceIsReported()
    {
        var world = new World();
        var deliveries = InterleavedDeliveries(world);
        var stranger = Guid.NewGuid();
        deliveries.Add(new Delivery(stranger.ToString(), world.Confirmed.ToString(), 5));
        deliveries.Add(new Delivery("not-a-guid", world.Confirmed.ToString(), 6));
        var created = world.Events.Single(e => e.OrderId == world.Declined && e.Sequence == 1);
        deliveries[deliveries.FindIndex(d => d.Id == created.EventId.ToString())] = new Delivery(created.EventId.ToString(), world.Cancelled.ToString(), 1);

        var violations = CheckDeliveries(world, deliveries).Violations;
        Assert.Contains($"delivered event {stranger} (order {world.Confirmed}, sequence 5) is in no timeline", violations);
        Assert.Contains($"delivery with id 'not-a-guid' (subject {world.Confirmed}) that is not an event id", violations);
        Assert.Contains($"delivered event {created.EventId} names order {world.Cancelled} sequence 1, its timeline row order {world.Declined} sequence 1", violations);
        Assert.Equal(3, violations.Count);
    }

    [Fact]
    public void WithABrokerTheRunFailsUntilTheOutboxDrainedAndPrintsTheDeliveryCounts()
    {
        var result = new ChaosResult { Broker = true, PendingAfterDrain = 0, OutboxBacklog = 3, EventDeliveries = 12, EventsDelivered = 10, DuplicateDeliveries = 2, TimelineEvents = 10 };
        Assert.False(result.Success);
        result.OutboxBacklog = 0;
        Assert.True(result.Success);
        using var report = new StringWriter();
        result.Print(report);
        Assert.Contains("events delivered       10 of 10 timeline events (12 deliveries, 2 duplicates)", report.ToString());
        Assert.True(new ChaosResult { PendingAfterDrain = 0 }.Success); // no broker: no outbox to wait for
    }

    [Fact]
    public void EventsOfAnOrderThatDoesNotExistAreReported()
    {
        var world = new World();
        var ghost = Guid.NewGuid();
        world.Events.Add(new EventRow(Guid.NewGuid(), ghost, 1, Created, null));
        Assert.Contains(world.Check(), v => v == $"timeline of {ghost}: 1 events for an order that does not exist");
    }

    /// <summary>The three databases, each migrated by its service's own migrations.</summary>
    private static async Task<Dictionary<string, string>> MigratedDatabasesAsync(ChaosPostgres pg)
    {
        var root = ChaosRunner.RepoRoot();
        var dbs = new Dictionary<string, string>();
        foreach (var (name, project) in new[] { ("orders", "Orders.Api"), ("inventory", "Inventory.Api"), ("payments", "Payments.Api") })
        {
            dbs[name] = (await pg.CreateDatabaseAsync(name)).Admin;
            foreach (var migration in Directory.GetFiles(Path.Combine(root, "src", project, "Migrations"), "*.sql").Order(StringComparer.Ordinal))
                await TestDb.ExecuteAsync(dbs[name], await File.ReadAllTextAsync(migration, TestContext.Current.CancellationToken));
        }
        return dbs;
    }

    [Fact]
    public async Task AgainstTheOrdersDatabaseTheBacklogCountsUnsentEventsAndDeliveriesAreCheckedAgainstTheStoredTimeline()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pg = new ChaosPostgres();
        await pg.StartAsync();
        var dbs = await MigratedDatabasesAsync(pg);

        // A confirmed order: created (its own outbox row, sent), then the confirm's three events in one row, not sent yet.
        var order = Guid.NewGuid();
        var events = new[] { Created, StockReserved, PaymentAuthorized, OrderConfirmed }
            .Select((type, i) => new EventRow(Guid.NewGuid(), order, i + 1, type, null)).ToList();
        var eventValues = string.Join(", ", events.Select(e => $"('{e.EventId}', '{order}', {e.Sequence}, '{e.Type}', now(), '{{}}')"));
        await TestDb.ExecuteAsync(dbs["orders"], $$"""
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until, last_sequence)
            VALUES ('{{order}}', 'k1', 'S', 1, 10.00, 'CONFIRMED', gen_random_uuid(), now(), 4);
            INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at, data) VALUES {{eventValues}};
            INSERT INTO outbox (order_id, first_sequence, last_sequence, sent_at) VALUES ('{{order}}', 1, 1, now()), ('{{order}}', 2, 4, NULL);
            """);
        Assert.Equal(3, await SystemSnapshot.CountOutboxBacklogAsync(dbs["orders"], ct));
        Assert.Equal(events.Select(e => e.EventId.ToString()).ToHashSet(), await SystemSnapshot.EventIdsAsync(dbs["orders"], ct));
        await TestDb.ExecuteAsync(dbs["orders"], "UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL");
        Assert.Equal(0, await SystemSnapshot.CountOutboxBacklogAsync(dbs["orders"], ct));

        // Delivered as the relay sends them (upper-case ids and subject too: a GUID is a GUID), created twice.
        List<Delivery> deliveries = [.. events.Select(e => new Delivery(e.EventId.ToString().ToUpperInvariant(), order.ToString().ToUpperInvariant(), e.Sequence))];
        deliveries.Add(deliveries[0]);
        List<OrderPlan> plans = [new(0, "k1", "S", 1, 10.00m, false, false)];
        var received = new Dictionary<string, long> { ["S"] = 1 };
        await TestDb.ExecuteAsync(dbs["inventory"], $"""
            INSERT INTO items (sku, available) VALUES ('S', 0);
            INSERT INTO reservations (order_id, sku, quantity, status) VALUES ('{order}', 'S', 1, 'RESERVED');
            """);
        await TestDb.ExecuteAsync(dbs["payments"], $"INSERT INTO payments (order_id, payment_id, amount, status) VALUES ('{order}', gen_random_uuid(), 10.00, 'AUTHORIZED')");
        var ok = new ChaosResult();
        await InvariantChecker.CheckAsync(ok, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans, deliveries);
        Assert.Empty(ok.Violations);
        Assert.Equal((5, 4, 1), (ok.EventDeliveries, ok.EventsDelivered, ok.DuplicateDeliveries));

        // The confirm's events lost on the way (only created arrived): three missing.
        var lost = new ChaosResult();
        await InvariantChecker.CheckAsync(lost, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans, deliveries[..1]);
        Assert.Equal(3, lost.Violations.Count(v => v.EndsWith("was never delivered", StringComparison.Ordinal)));
        Assert.Equal(1, lost.EventsDelivered);
    }

    [Fact]
    public async Task AgainstTheDatabasesAsMigratedItPassesAConsistentStateAndReportsEachBrokenInvariant()
    {
        await using var pg = new ChaosPostgres();
        await pg.StartAsync();
        var dbs = await MigratedDatabasesAsync(pg);

        // Received S 10, T 5. k1: one line S x3, CONFIRMED. k2: two lines (S x2, T x1), confirmed then cancelled: its
        // reservation released and its payment voided. k3: one line S x1, declined and compensated.
        Guid k1 = Guid.NewGuid(), k2 = Guid.NewGuid(), k3 = Guid.NewGuid();
        await TestDb.ExecuteAsync(dbs["orders"], $$"""
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, lines, amount, status, failure_reason, lease_token, lease_until, last_sequence, cancel_requested_at) VALUES
              ('{{k1}}', 'k1', 'S', 3, NULL, 10.00, 'CONFIRMED', NULL, gen_random_uuid(), now(), 4, NULL),
              ('{{k2}}', 'k2', NULL, 3, '[{"item_sku":"S","quantity":2},{"item_sku":"T","quantity":1}]', 20.00, 'CANCELLED', NULL, gen_random_uuid(), now(), 6, now()),
              ('{{k3}}', 'k3', 'S', 1, NULL, 1500.00, 'FAILED', 'PAYMENT_DECLINED', gen_random_uuid(), now(), 3, NULL);
            INSERT INTO order_lines (order_id, item_sku, quantity, status, created_at) VALUES ('{{k2}}', 'S', 2, 'CANCELLED', now()), ('{{k2}}', 'T', 1, 'CANCELLED', now());
            INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at, data)
            SELECT gen_random_uuid(), e.order_id::uuid, e.sequence, e.type, now(), e.data::jsonb FROM (VALUES
              ('{{k1}}', 1, 'order.created', '{}'), ('{{k1}}', 2, 'order.stock_reserved', '{}'),
              ('{{k1}}', 3, 'order.payment_authorized', '{}'), ('{{k1}}', 4, 'order.confirmed', '{}'),
              ('{{k2}}', 1, 'order.created', '{}'), ('{{k2}}', 2, 'order.stock_reserved', '{}'),
              ('{{k2}}', 3, 'order.payment_authorized', '{}'), ('{{k2}}', 4, 'order.confirmed', '{}'),
              ('{{k2}}', 5, 'order.cancel_requested', '{"reason":"changed my mind"}'), ('{{k2}}', 6, 'order.cancelled', '{}'),
              ('{{k3}}', 1, 'order.created', '{}'), ('{{k3}}', 2, 'order.stock_reserved', '{}'),
              ('{{k3}}', 3, 'order.failed', '{"failure_reason":"PAYMENT_DECLINED"}')
            ) AS e(order_id, sequence, type, data)
            """);
        await TestDb.ExecuteAsync(dbs["inventory"], $"""
            INSERT INTO items (sku, available) VALUES ('S', 7), ('T', 5);
            INSERT INTO reservations (order_id, sku, quantity, status) VALUES
              ('{k1}', 'S', 3, 'RESERVED'), ('{k2}', NULL, 3, 'RELEASED'), ('{k3}', 'S', 1, 'RELEASED');
            INSERT INTO reservation_lines (order_id, sku, line, quantity, remaining) VALUES ('{k2}', 'S', 1, 2, 5), ('{k2}', 'T', 2, 1, 4);
            """);
        await TestDb.ExecuteAsync(dbs["payments"], $"""
            INSERT INTO payments (order_id, payment_id, amount, status) VALUES
              ('{k1}', gen_random_uuid(), 10.00, 'AUTHORIZED'), ('{k2}', gen_random_uuid(), 20.00, 'VOIDED'),
              ('{k3}', gen_random_uuid(), 1500.00, 'DECLINED')
            """);
        List<OrderPlan> plans =
        [
            new(0, "k1", "S", 3, 10.00m, false, false),
            new(1, "k2", [new("T", 1), new("S", 2)], 20.00m, false, false, cancel: CancelMode.AfterAnswer),
            new(2, "k3", "S", 1, 1500.00m, false, false),
        ];
        plans[1].Replies.Enqueue(new Reply(0, "201", 201, k2.ToString(), "CONFIRMED", null, false, null));
        plans[1].CancelReplies.Enqueue(new CancelReply(1, "200", 200, "CANCELLED", null));
        var received = new Dictionary<string, long> { ["S"] = 10, ["T"] = 5 };

        var ok = new ChaosResult();
        await InvariantChecker.CheckAsync(ok, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans);
        Assert.Empty(ok.Violations);
        Assert.Equal(0, ok.PendingAfterDrain);
        Assert.Equal(13, ok.TimelineEvents);
        Assert.Equal(new Dictionary<int, int> { [1] = 2, [2] = 1 }, ok.OrdersByLineCount);
        Assert.Equal(0, await InvariantChecker.CountUnfinishedAsync(dbs["orders"], TestContext.Current.CancellationToken));

        // Break it: the cancelled basket still holds its stock, the declined order an authorization, k1's timeline has a
        // gap, and a fourth order stays PENDING.
        await TestDb.ExecuteAsync(dbs["inventory"], $"UPDATE reservations SET status = 'RESERVED' WHERE order_id = '{k2}'; UPDATE items SET available = available - 2 WHERE sku = 'S'; UPDATE items SET available = 4 WHERE sku = 'T'");
        await TestDb.ExecuteAsync(dbs["payments"], $"UPDATE payments SET status = 'AUTHORIZED' WHERE order_id = '{k3}'");
        await TestDb.ExecuteAsync(dbs["orders"], $"""
            DELETE FROM order_events WHERE order_id = '{k1}' AND sequence = 2;
            INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, lease_token, lease_until)
            VALUES (gen_random_uuid(), 'k4', 'S', 1, 5.00, 'PENDING', gen_random_uuid(), now())
            """);
        plans.Add(new(3, "k4", "S", 1, 5.00m, false, false));
        // k1 gets a cancel requested that never finishes: it is still CONFIRMED. With k4 PENDING: two unfinished.
        await TestDb.ExecuteAsync(dbs["orders"], $"""
            INSERT INTO order_events (event_id, order_id, sequence, type, occurred_at) VALUES (gen_random_uuid(), '{k1}', 5, 'order.cancel_requested', now())
            """);
        Assert.Equal(2, await InvariantChecker.CountUnfinishedAsync(dbs["orders"], TestContext.Current.CancellationToken));

        var broken = new ChaosResult();
        await InvariantChecker.CheckAsync(broken, dbs["orders"], dbs["inventory"], dbs["payments"], received, new HashSet<string>(), plans);
        Assert.Equal(1, broken.PendingAfterDrain);
        Assert.Contains(broken.Violations, v => v.StartsWith($"CANCELLED {k2} still holds a RESERVED reservation RESERVED [S x2, T x1]", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith($"FAILED {k3} (PAYMENT_DECLINED) still has an AUTHORIZED", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith("conservation S", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith("conservation T", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith($"timeline of CONFIRMED {k1}: sequences 1,3,4,5", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.StartsWith($"timeline of CONFIRMED {k1}: a cancel was requested but never finished", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.Contains("(k4) still PENDING", StringComparison.Ordinal));
        Assert.Contains(broken.Violations, v => v.Contains("no events", StringComparison.Ordinal)); // k4 has none
        Assert.False(broken.Success);
    }
}
