using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using Npgsql;
using Oms.Testing;
using RabbitMQ.Client;

namespace Orders.Api.Tests;

/// <summary>One event of an order's timeline as the database holds it.</summary>
internal sealed record StoredEvent(Guid EventId, Guid OrderId, int Sequence, string Type, DateTime OccurredAt, string Data);

/// <summary>Order events on a real RabbitMQ node: the relay's settings for tests, the timeline, and the checks on what arrived.</summary>
internal static class Relay
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The order service's settings that turn publishing on, with a relay quick enough for tests.</summary>
    public static Dictionary<string, string?> Settings(RabbitMqNode node, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:events"] = node.AmqpUri,
            ["Events:PollInterval"] = "00:00:00.020",
            ["Events:LeaderRetryInterval"] = "00:00:00.100",
            ["Events:ReconnectDelay"] = "00:00:00.100",
            ["Events:MaxReconnectDelay"] = "00:00:01",
            ["Events:GaugeInterval"] = "00:00:00.100",
            ["Events:ConnectTimeout"] = "00:00:02",
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>()) settings[key] = value;
        return settings;
    }

    /// <summary>The timelines of these orders (every order when null), from the database, in (order, sequence) order.</summary>
    public static async Task<List<StoredEvent>> TimelineAsync(OmsSystem system, IEnumerable<Guid>? orders = null)
    {
        await using var connection = new NpgsqlConnection(system.OrdersDb);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            "SELECT event_id, order_id, sequence, type, occurred_at, data::text FROM order_events " +
            (orders is null ? "" : "WHERE order_id = ANY($1) ") + "ORDER BY order_id, sequence", connection);
        if (orders is not null) command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. orders] });
        var events = new List<StoredEvent>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
            events.Add(new(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetString(3), reader.GetDateTime(4), reader.GetString(5)));
        return events;
    }

    /// <summary>Waits until the tap has received every event of these orders' timelines (as they stand at each look).</summary>
    public static async Task<List<StoredEvent>> WaitDeliveredAsync(EventTap tap, OmsSystem system, IReadOnlyCollection<Guid> orders)
    {
        List<StoredEvent> timeline = [];
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                timeline = await TimelineAsync(system, orders);
                var seen = tap.Distinct.Select(e => e.Id).ToHashSet();
                return timeline.All(e => seen.Contains(e.EventId.ToString()));
            }, Timeout, $"every event of {orders.Count} order(s) to reach the tap");
        }
        catch (TimeoutException e)
        {
            // Which events are missing, and whether the relay still holds them (unsent) or thinks them delivered (sent).
            var seen = tap.Distinct.Select(x => x.Id).ToHashSet();
            var missing = timeline.Where(x => !seen.Contains(x.EventId.ToString())).ToList();
            var unsent = await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox WHERE sent_at IS NULL");
            throw new TimeoutException($"{e.Message}: {missing.Count} of {timeline.Count} events missing " +
                $"(first at {missing.FirstOrDefault()?.OccurredAt:HH:mm:ss.fff}, last at {missing.LastOrDefault()?.OccurredAt:HH:mm:ss.fff}); " +
                $"{tap.Distinct.Count} distinct deliveries; {unsent} outbox rows unsent", e);
        }
        return timeline;
    }

    /// <summary>
    /// Each order's events in <paramref name="received"/> (deliveries, in arrival order) are exactly its timeline's sequences
    /// 1..n in order: none missing, none out of order (and, for <see cref="EventTap.All"/>, none twice).
    /// </summary>
    public static void AssertInSequenceOrder(IReadOnlyList<ReceivedEvent> received, List<StoredEvent> timeline)
    {
        foreach (var order in timeline.GroupBy(e => e.OrderId))
        {
            var sequences = received.Where(e => e.Subject == order.Key.ToString()).Select(e => e.Sequence).ToList();
            Assert.True(Enumerable.Range(1, order.Count()).Select(s => (long)s).SequenceEqual(sequences),
                $"order {order.Key}: timeline 1..{order.Count()}, received [{string.Join(", ", sequences)}]");
        }
    }

    /// <summary>Each event received is its timeline entry: id, type, subject, sequence, time and data.</summary>
    public static void AssertSameAsTimeline(IReadOnlyList<ReceivedEvent> received, List<StoredEvent> timeline)
    {
        var byId = received.ToDictionary(e => e.Id);
        foreach (var stored in timeline)
        {
            var e = byId[stored.EventId.ToString()];
            Assert.Equal((stored.Type, stored.OrderId.ToString(), (long)stored.Sequence), (e.Type, e.Subject, e.Sequence));
            Assert.Equal(new DateTimeOffset(stored.OccurredAt, TimeSpan.Zero), e.Time);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(stored.Data), JsonNode.Parse(e.Data.GetRawText())),
                $"{stored.Type} of {stored.OrderId}: data {e.Data.GetRawText()}, timeline {stored.Data}");
        }
    }

    public static async Task<Guid> PlaceConfirmedAsync(OmsSystem system, HttpClient orders, string sku, string key)
    {
        using var placed = await orders.PostAsJsonAsync("/api/v1/orders", new { item_sku = sku, quantity = 1, amount = 10m, idempotency_key = key }, Ct);
        Assert.Equal(HttpStatusCode.Created, placed.StatusCode);
        var order = await OmsSystem.BodyAsync(placed);
        Assert.Equal("CONFIRMED", order.Str("status"));
        return Guid.Parse(order.Str("order_id"));
    }

    /// <summary>The largest value of a metric in a Prometheus text page, or null when it is not there.</summary>
    public static double? Metric(string page, string name) => page.Split('\n')
        .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
        .Select(l => double.Parse((l.Contains('}') ? l[(l.IndexOf('}') + 1)..] : l[name.Length..]).Trim().Split(' ')[0],
            System.Globalization.CultureInfo.InvariantCulture))
        .Cast<double?>().Max();

    public static Task<HealthReport> BrokerHealthAsync(OmsSystem system) =>
        system.OrderServices.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "events-broker", Ct);

    public static string NewSku() => $"EV-{Guid.NewGuid():N}"[..24];
}

/// <summary>A RabbitMQ node shared by the tests of one class that do not stop it.</summary>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    public RabbitMqNode Node { get; private set; } = null!;
    public async ValueTask InitializeAsync() => Node = await RabbitMqNode.StartAsync();
    public async ValueTask DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>What the relay publishes, and in which order, with the broker up (DESIGN.md, Events to other systems).</summary>
public sealed class EventPublishingTests(PostgresServer pg, RabbitMqFixture broker) : IClassFixture<RabbitMqFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_transition_arrives_as_a_CloudEvent_that_is_its_timeline_entry()
    {
        await using var system = await OmsSystem.StartAsync(pg, proxyPayment: true, orderSettings: Relay.Settings(broker.Node));
        await using var tap = await EventTap.StartAsync(broker.Node.AmqpUri);
        // A queue of our own for order.created only: the routing key is the type, and the AMQP properties are the contract's.
        var factory = new ConnectionFactory { Uri = new Uri(broker.Node.AmqpUri) };
        await using var connection = await factory.CreateConnectionAsync(Ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.ExchangeDeclareAsync("oms.events", ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: Ct);
        var createdOnly = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: Ct)).QueueName;
        await channel.QueueBindAsync(createdOnly, "oms.events", "order.created", cancellationToken: Ct);

        var sku = Relay.NewSku();
        var other = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 10);
        await system.ReceiveStockAsync(other, 10);
        var orders = new List<Guid>();
        async Task<JsonObject> PlaceAsync(string body, HttpStatusCode expected = HttpStatusCode.Created)
        {
            using var response = await system.Orders.PostAsync("/api/v1/orders", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(expected, response.StatusCode);
            var order = await OmsSystem.BodyAsync(response);
            if (expected == HttpStatusCode.Created) orders.Add(Guid.Parse(order.Str("order_id")));
            return order;
        }

        // The four scenarios: confirmed, payment declined, insufficient stock, and a replay (which adds no event).
        var confirmed = await PlaceAsync($$"""{"item_sku":"{{sku}}","quantity":2,"amount":100,"idempotency_key":"{{sku}}-1"}""");
        Assert.Equal("CONFIRMED", confirmed.Str("status"));
        Assert.Equal("PAYMENT_DECLINED", (await PlaceAsync($$"""{"item_sku":"{{sku}}","quantity":1,"amount":1500,"idempotency_key":"{{sku}}-2"}""")).Str("failure_reason"));
        Assert.Equal("INSUFFICIENT_STOCK", (await PlaceAsync($$"""{"item_sku":"{{sku}}","quantity":20,"amount":100,"idempotency_key":"{{sku}}-3"}""")).Str("failure_reason"));
        await PlaceAsync($$"""{"item_sku":"{{sku}}","quantity":2,"amount":100,"idempotency_key":"{{sku}}-1"}""", HttpStatusCode.OK);
        // A multi-line order, then cancelled once CONFIRMED.
        var basket = await PlaceAsync($$"""{"items":[{"item_sku":"{{sku}}","quantity":1},{"item_sku":"{{other}}","quantity":3}],"amount":70,"idempotency_key":"{{sku}}-4"}""");
        Assert.Equal("CONFIRMED", basket.Str("status"));
        using (var cancel = await system.Orders.PostAsync($"/api/v1/orders/{basket.Str("order_id")}/cancel",
                   new StringContent("""{"reason":"changed my mind"}""", Encoding.UTF8, "application/json"), Ct))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        // A PENDING order (its authorize held) cancelled: it ends CANCELLED, never confirmed.
        system.PaymentProxy!.Mode = FaultMode.Hold;
        var placing = system.PlaceAsync(other, 1, 10m, $"{sku}-5");
        await Eventually.UntilAsync(() => Task.FromResult(system.PaymentProxy.InFlight == 1), Relay.Timeout, "the authorize to be held");
        var pendingId = await OmsSystem.ScalarAsync<Guid>(system.OrdersDb, "SELECT order_id FROM orders WHERE idempotency_key = $1", $"{sku}-5");
        using (var cancel = await system.Orders.PostAsync($"/api/v1/orders/{pendingId}/cancel", null, Ct))
            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        system.PaymentProxy.Mode = FaultMode.Forward;
        system.PaymentProxy.Release();
        using (var placed = await placing) Assert.Equal("CANCELLED", (await OmsSystem.BodyAsync(placed)).Str("status"));
        orders.Add(pendingId);

        var timeline = await Relay.WaitDeliveredAsync(tap, system, orders);
        var mine = tap.All.Where(e => orders.Contains(Guid.Parse(e.Subject))).ToList();
        Relay.AssertInSequenceOrder(mine, timeline);
        Relay.AssertSameAsTimeline(mine, timeline);
        Assert.Equal(
            [["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed"],
             ["order.created", "order.failed"],
             ["order.created", "order.failed"],
             ["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed", "order.cancel_requested", "order.cancelled"],
             ["order.created", "order.cancel_requested", "order.cancelled"]],
            orders.Select(id => mine.Where(e => e.Subject == id.ToString()).Select(e => e.Type).ToArray()));
        // The ids are the timeline's as the API serves it.
        var served = await Timeline.ReadAsync(system, basket.Str("order_id"));
        Assert.Equal(served.Select(e => e.Str("event_id")), mine.Where(e => e.Subject == basket.Str("order_id")).Select(e => e.Id));
        Assert.Equal("changed my mind", mine.Single(e => e.Subject == basket.Str("order_id") && e.Type == "order.cancel_requested").Data.GetProperty("reason").GetString());
        Assert.Equal(2, mine.Single(e => e.Subject == basket.Str("order_id") && e.Type == "order.created").Data.GetProperty("items").GetArrayLength());

        // The message itself: persistent, message_id = event id, the CloudEvents content type, structured-mode attributes.
        var createdOfConfirmed = timeline.Single(e => e.OrderId == orders[0] && e.Sequence == 1);
        BasicGetResult? message = null;
        await Eventually.UntilAsync(async () =>
        {
            while ((message = await channel.BasicGetAsync(createdOnly, autoAck: true, Ct)) is not null)
                if (message.BasicProperties.MessageId == createdOfConfirmed.EventId.ToString()) return true;
            return false;
        }, Relay.Timeout, "the order.created message in our own queue");
        Assert.Equal(("oms.events", "order.created"), (message!.Exchange, message.RoutingKey));
        Assert.Equal(DeliveryModes.Persistent, message.BasicProperties.DeliveryMode);
        Assert.Equal("application/cloudevents+json; charset=utf-8", message.BasicProperties.ContentType);
        using var body = JsonDocument.Parse(message.Body);
        var root = body.RootElement;
        Assert.Equal("1.0", root.GetProperty("specversion").GetString());
        Assert.Equal("/oms/orders", root.GetProperty("source").GetString());
        Assert.Equal("application/json", root.GetProperty("datacontenttype").GetString());
        Assert.Equal(createdOfConfirmed.EventId.ToString(), root.GetProperty("id").GetString());
        Assert.Equal(orders[0].ToString(), root.GetProperty("subject").GetString());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("sequence").ValueKind);
        Assert.Equal(1, root.GetProperty("sequence").GetInt32());
        Assert.Equal(100m, root.GetProperty("data").GetProperty("amount").GetDecimal());
    }

    [Fact]
    public async Task Under_many_concurrent_orders_each_orders_events_arrive_once_and_in_sequence_order()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(broker.Node));
        await using var tap = await EventTap.StartAsync(broker.Node.AmqpUri);
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 1_000);

        // Concurrent requests share statements (coalesced inserts and confirms): many orders' outbox rows per statement.
        var placed = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            using var response = await system.PlaceAsync(sku, 1, i % 4 == 0 ? 1500m : 10m, $"{sku}-{i}");
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return Guid.Parse((await OmsSystem.BodyAsync(response)).Str("order_id"));
        }));

        var timeline = await Relay.WaitDeliveredAsync(tap, system, placed);
        Assert.Equal(48 * 4 + 16 * 2, timeline.Count);
        var mine = tap.All.Where(e => placed.Contains(Guid.Parse(e.Subject))).ToList();
        Relay.AssertInSequenceOrder(mine, timeline);
        Relay.AssertSameAsTimeline(mine, timeline);
    }

    [Fact]
    public async Task Two_order_service_hosts_on_one_database_relay_through_one_leader_each_event_once_in_order()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(broker.Node));
        var replica = system.StartOrdersReplica();
        await using var tap = await EventTap.StartAsync(broker.Node.AmqpUri);
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 1_000);

        // Both hosts run a relay on their own connection; exactly one session holds the leader lock.
        const string RelaySessions =
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '% outbox relay'";
        const string LockHolders =
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb, RelaySessions) == 2
                                                && await OmsSystem.ScalarAsync<long>(system.OrdersDb, LockHolders) == 1,
            Relay.Timeout, "both hosts' relays to be connected, one of them leading");

        var placed = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            Relay.PlaceConfirmedAsync(system, i % 2 == 0 ? system.Orders : replica, sku, $"{sku}-{i}")));

        var timeline = await Relay.WaitDeliveredAsync(tap, system, placed);
        Relay.AssertInSequenceOrder(tap.All.Where(e => placed.Contains(Guid.Parse(e.Subject))).ToList(), timeline);
        Assert.Equal(1L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, LockHolders));
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, RelaySessions));
    }

    [Fact]
    public async Task Sent_rows_older_than_the_retention_are_pruned_and_the_timeline_stays_whole()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(broker.Node, new Dictionary<string, string?>
        {
            ["Events:Retention"] = "01:00:00",
            ["Events:PruneInterval"] = "00:00:00.100",
        }));
        await using var tap = await EventTap.StartAsync(broker.Node.AmqpUri);
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 10);
        var old = await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-old");
        var recent = await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-recent");
        await Relay.WaitDeliveredAsync(tap, system, [old, recent]);
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0, Relay.Timeout, "every outbox row to be marked sent");
        // One statement per transition: created, and the confirm's three events in one row.
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox WHERE order_id = $1", recent));

        // The old order's rows were sent two hours ago, as far as the relay can tell: past the retention.
        await TestDb.ExecuteAsync(system.OrdersDb, "UPDATE outbox SET sent_at = now() - interval '2 hours' WHERE order_id = $1", old);
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM outbox WHERE order_id = $1", old) == 0, Relay.Timeout, "the old rows to be pruned");
        Assert.Equal(2L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox WHERE order_id = $1", recent));
        Assert.Equal(["order.created", "order.stock_reserved", "order.payment_authorized", "order.confirmed"],
            Timeline.Types(await Timeline.ReadAsync(system, old.ToString())));
    }

    [Fact]
    public void Only_rows_whose_events_were_all_confirmed_without_a_gap_before_them_count_as_sent()
    {
        // Rows 10 (one event), 11 (three: a confirm), 12 (one).
        OutboxEvent E(long position, int sequence) => new(position, Guid.NewGuid(), Guid.Empty, sequence, "order.created", DateTime.UtcNow, "{}");
        OutboxEvent[] batch = [E(10, 1), E(11, 2), E(11, 3), E(11, 4), E(12, 1)];
        Assert.Equal([], OutboxRelay.SentPositions(batch, 0));
        Assert.Equal([10L], OutboxRelay.SentPositions(batch, 1));
        Assert.Equal([10L], OutboxRelay.SentPositions(batch, 3));
        Assert.Equal([10L, 11L], OutboxRelay.SentPositions(batch, 4));
        Assert.Equal([10L, 11L, 12L], OutboxRelay.SentPositions(batch, 5));
    }

    [Fact]
    public async Task A_batch_the_broker_refuses_in_part_counts_only_its_confirmed_prefix_and_the_next_batch_goes_out_whole()
    {
        // A queue that takes one message and refuses (nacks) the rest: publishes 2 and 3 of the batch come back nacked.
        var type = $"test.refused.{Guid.NewGuid():N}";
        var factory = new ConnectionFactory { Uri = new Uri(broker.Node.AmqpUri) };
        await using var connection = await factory.CreateConnectionAsync(Ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.ExchangeDeclareAsync(EventPublisher.Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: Ct);
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = "reject-publish" }, cancellationToken: Ct)).QueueName;
        await channel.QueueBindAsync(queue, EventPublisher.Exchange, type, cancellationToken: Ct);

        await using var publisher = new EventPublisher(new EventPublishing(broker.Node.AmqpUri), Options.Create(new EventsOptions()),
            new HostingEnvironment { ApplicationName = "publisher test" });
        OutboxEvent E(long position) => new(position, Guid.NewGuid(), Guid.NewGuid(), 1, type, DateTime.UtcNow, "{}");
        var (confirmed, failure) = await publisher.PublishAsync([E(1), E(2), E(3)], Ct);
        Assert.Equal(1, confirmed);
        Assert.NotNull(failure);
        Assert.Contains("nack", failure.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(publisher.IsOpen); // a refused batch drops the connection

        // With room in the queue again, the publisher connects anew and a whole batch is confirmed (delivery tags restart).
        await channel.QueuePurgeAsync(queue, Ct);
        await channel.QueueUnbindAsync(queue, EventPublisher.Exchange, type, cancellationToken: Ct);
        (confirmed, failure) = await publisher.PublishAsync([E(4), E(5), E(6), E(7)], Ct);
        Assert.Null(failure);
        Assert.Equal(4, confirmed);
        Assert.True(publisher.IsOpen);
    }
}

/// <summary>With no broker configured nothing is published: no outbox rows, no relay. A bad setting stops the start.</summary>
public sealed class EventPublishingOffTests(PostgresServer pg)
{
    public static TheoryData<string, string, string> BadSettings => new()
    {
        { "ConnectionStrings:events", "http://oms:s3cret@127.0.0.1:5672", "must be an AMQP URI" },
        { "ConnectionStrings:events", "oms:s3cret@127.0.0.1", "must be an AMQP URI" },
        { "Events:BatchSize", "0", "BatchSize" },
        { "Events:PollInterval", "00:00:00", "PollInterval" },
        { "Events:MaxReconnectDelay", "00:00:00.050", "must be at least Events:ReconnectDelay" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void A_bad_events_setting_stops_the_service_at_start_with_a_clear_message(string key, string value, string expected)
    {
        // Never reached: the options are checked before the database is.
        using var host = new ServiceHost<SagaOptions>(new Dictionary<string, string?>
        {
            ["ConnectionStrings:orders"] = "Host=127.0.0.1;Port=1;Username=nobody;Database=nothing",
            [key] = value,
        });
        var error = Assert.ThrowsAny<Exception>(() => host.Start());
        var messages = Flatten(error).Select(e => e.Message).ToList();
        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal));
        Assert.Contains(Flatten(error), e => e is Microsoft.Extensions.Options.OptionsValidationException);
        // A broker URI carries a password: never echoed.
        Assert.DoesNotContain(messages, m => m.Contains("s3cret", StringComparison.Ordinal));
    }

    private static IEnumerable<Exception> Flatten(Exception e) =>
        e is AggregateException a ? [e, .. a.InnerExceptions.SelectMany(Flatten)]
        : e.InnerException is { } inner ? [e, .. Flatten(inner)] : [e];

    [Fact]
    public async Task Without_ConnectionStrings_events_no_outbox_row_is_written_and_no_relay_runs()
    {
        await using var system = await OmsSystem.StartAsync(pg, h2c: true);
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 5);
        var order = await Relay.PlaceConfirmedAsync(system, system.Orders, sku, sku);

        Assert.Equal(4L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM order_events WHERE order_id = $1", order));
        Assert.Equal(0L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox"));
        Assert.Equal(0L, await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '% outbox relay'"));
        var report = await Relay.BrokerHealthAsync(system);
        Assert.Equal(HealthStatus.Healthy, report.Entries["events-broker"].Status);
        Assert.Contains("off", report.Entries["events-broker"].Description);
    }
}

/// <summary>The broker and the relay failing: nothing is lost, per-order order holds, orders go on.</summary>
public sealed class EventRelayFaultTests(PostgresServer pg)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_the_broker_down_orders_go_on_readiness_stays_up_the_backlog_shows_and_then_drains_in_order()
    {
        await using var node = await RabbitMqNode.StartAsync();
        // Retention 0: sent rows go at once, so the drain below also shows that unsent rows are never pruned.
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(node, new Dictionary<string, string?>
        {
            ["Events:Retention"] = "00:00:00",
            ["Events:PruneInterval"] = "00:00:00.050",
        }));
        await using var tap = await EventTap.StartAsync(node.AmqpUri);
        await node.SettleAsync(); // the tap's queue and binding exist before the crash (RabbitMqNode.SettleAsync)
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 100);
        List<Guid> orders = [await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-before")];
        await Relay.WaitDeliveredAsync(tap, system, orders);
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0, Relay.Timeout, "the first order's rows to be marked sent");

        node.Kill();
        for (var i = 0; i < 5; i++) orders.Add(await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-{i}"));

        // Readiness stays up (200) the whole time; the report turns Degraded once the check finds the broker gone.
        await Eventually.UntilAsync(async () =>
        {
            using var ready = await system.Orders.GetAsync("/health/ready", Ct);
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            return await ready.Content.ReadAsStringAsync(Ct) == "Degraded";
        }, Relay.Timeout, "/health/ready to answer 200 Degraded");
        var report = await Relay.BrokerHealthAsync(system);
        Assert.Equal(HealthStatus.Degraded, report.Entries["events-broker"].Status);
        Assert.Contains("unreachable", report.Entries["events-broker"].Description);
        // This host's gauges count exactly its 20 waiting events; /metrics exports them.
        var gauges = system.OrderServices.GetRequiredService<OutboxGauges>();
        await Eventually.UntilAsync(async () =>
        {
            var page = await system.Orders.GetStringAsync("/metrics", Ct);
            return gauges.Backlog == 5 * 4 && Relay.Metric(page, "oms_outbox_backlog") >= 5 * 4 && Relay.Metric(page, "oms_outbox_oldest_age_seconds") > 0;
        }, Relay.Timeout, "oms_outbox_backlog to count the 20 waiting events and oms_outbox_oldest_age_seconds their wait");
        Assert.Equal(10L, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"));
        // GET /api/v1/orders/stats shows the same gauges (its answer is cached for up to Stats:CacheFor).
        await Eventually.UntilAsync(async () =>
            (await system.Orders.GetFromJsonAsync<JsonObject>("/api/v1/orders/stats", Ct))!["outbox"] is JsonObject outbox
            && outbox["backlog"]!.GetValue<long>() == 5 * 4 && outbox["oldest_age_seconds"]!.GetValue<double>() > 0,
            Relay.Timeout, "the stats' outbox to show the 20 waiting events and their wait");

        await node.RestartAsync();
        var timeline = await Relay.WaitDeliveredAsync(tap, system, orders);
        Assert.Equal(6 * 4, timeline.Count);
        Relay.AssertInSequenceOrder(tap.Distinct, timeline);
        await Eventually.UntilAsync(async () =>
            gauges.Backlog == 0
            && (await Relay.BrokerHealthAsync(system)).Entries["events-broker"].Status == HealthStatus.Healthy
            && await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM outbox") == 0,
            Relay.Timeout, "the backlog to be 0, the broker healthy and the sent rows pruned");
        Assert.Equal(6L * 4, await OmsSystem.ScalarAsync<long>(system.OrdersDb, "SELECT count(*) FROM order_events"));
    }

    [Fact]
    public async Task The_broker_SIGKILLed_and_restarted_mid_stream_loses_nothing_and_keeps_each_orders_order()
    {
        await using var node = await RabbitMqNode.StartAsync();
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(node));
        await using var tap = await EventTap.StartAsync(node.AmqpUri);
        await node.SettleAsync(); // the tap's queue and binding exist before the crash (RabbitMqNode.SettleAsync)
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 10_000);

        // Four clients place orders until told to stop (a bound only: at most 8,000), through the kill and the restart.
        var placed = new List<Guid>();
        var stop = new CancellationTokenSource();
        int Placed() { lock (placed) return placed.Count; }
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < 2_000 && !stop.IsCancellationRequested; i++)
            {
                var id = await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-{c}-{i}");
                lock (placed) placed.Add(id);
            }
        }, Ct)).ToArray();

        await tap.WaitForAsync(events => events.Count >= 40, Relay.Timeout);
        node.Kill();
        var atKill = Placed();
        await Eventually.UntilAsync(() => Task.FromResult(Placed() >= atKill + 20), Relay.Timeout, "20 orders placed with the broker down");
        await node.RestartAsync();
        var atRestart = Placed();
        await Eventually.UntilAsync(() => Task.FromResult(Placed() >= atRestart + 20), Relay.Timeout, "20 orders placed after the restart");
        stop.Cancel();
        await Task.WhenAll(clients);

        var timeline = await Relay.WaitDeliveredAsync(tap, system, placed);
        Assert.Equal(placed.Count * 4, timeline.Count);
        // Deduplicated on id (a consumer's view), each order's events came in sequence order; every one at least once.
        Relay.AssertInSequenceOrder(tap.Distinct.Where(e => placed.Contains(Guid.Parse(e.Subject))).ToList(), timeline);
    }

    [Fact]
    public async Task A_relay_that_dies_between_the_brokers_confirm_and_marking_sent_is_followed_by_the_same_events_again()
    {
        await using var node = await RabbitMqNode.StartAsync();
        await using var system = await OmsSystem.StartAsync(pg, h2c: true, orderSettings: Relay.Settings(node));
        await using var tap = await EventTap.StartAsync(node.AmqpUri);
        await node.SettleAsync(); // the tap's queue and binding exist before the crash (RabbitMqNode.SettleAsync)
        var sku = Relay.NewSku();
        await system.ReceiveStockAsync(sku, 10);
        await Relay.WaitDeliveredAsync(tap, system, [await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-first")]);

        // An order whose events wait (broker down), and the test holding its outbox rows' locks.
        node.Kill();
        var order = await Relay.PlaceConfirmedAsync(system, system.Orders, sku, $"{sku}-held");
        await using var holder = new NpgsqlConnection(system.OrdersDb);
        await holder.OpenAsync(Ct);
        await using var hold = await holder.BeginTransactionAsync(Ct);
        await using (var lockRows = new NpgsqlCommand("SELECT position FROM outbox WHERE order_id = $1 FOR UPDATE", holder, hold))
        {
            lockRows.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = order });
            await lockRows.ExecuteNonQueryAsync(Ct);
        }

        // The broker comes back: the relay publishes and the broker confirms, but marking them sent waits on our locks.
        await node.RestartAsync();
        var timeline = await Relay.WaitDeliveredAsync(tap, system, [order]);
        var ids = timeline.Select(e => e.EventId.ToString()).ToHashSet();
        var relayPid = 0;
        await Eventually.UntilAsync(async () =>
        {
            relayPid = await OmsSystem.ScalarAsync<int>(system.OrdersDb,
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '% outbox relay' AND wait_event_type = 'Lock'");
            return relayPid != 0;
        }, Relay.Timeout, "the relay's mark-sent to wait on the held rows");

        // The relay dies there (its session ends, and with it the lead); the rows are free again.
        Assert.True(await OmsSystem.ScalarAsync<bool>(system.OrdersDb, "SELECT pg_terminate_backend($1)", relayPid));
        await hold.RollbackAsync(Ct);

        // Whoever relays next publishes the same events again; a consumer deduping on id handles each once, in order.
        await Eventually.UntilAsync(() => Task.FromResult(ids.All(id => tap.All.Count(e => e.Id == id) >= 2)), Relay.Timeout,
            "every event of the held order to be delivered a second time");
        Relay.AssertInSequenceOrder(tap.Distinct.Where(e => e.Subject == order.ToString()).ToList(), timeline);
        Relay.AssertSameAsTimeline(tap.Distinct.Where(e => e.Subject == order.ToString()).ToList(), timeline);
        await Eventually.UntilAsync(async () => await OmsSystem.ScalarAsync<long>(system.OrdersDb,
            "SELECT count(*) FROM outbox WHERE order_id = $1 AND sent_at IS NULL", order) == 0, Relay.Timeout, "the held order's rows to be marked sent");
    }
}
