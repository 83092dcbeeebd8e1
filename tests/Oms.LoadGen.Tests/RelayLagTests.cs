using Oms.Testing;
using System.Text;
using Xunit;

namespace Oms.LoadGen.Tests;

public sealed class RelayLagTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 29, 3, 0, 0, TimeSpan.Zero);

    /// <summary>A structured-mode CloudEvent as the relay writes it (with data holding its own "id" and "time", which must not be taken).</summary>
    private static byte[] Event(string id, DateTimeOffset time) => Encoding.UTF8.GetBytes($$$"""
        {"specversion":"1.0","id":"{{{id}}}","source":"/oms/orders","type":"order.created","subject":"0b5e4a8e-2f3c-4b7a-9a55-0f0e1d2c3b4a",
         "time":"{{{time:yyyy-MM-ddTHH:mm:ss.ffffffZ}}}","datacontenttype":"application/json","sequence":1,
         "data":{"id":"not-this-one","time":"2001-01-01T00:00:00Z","lines":[{"item_sku":"A","quantity":1}]}}
        """);

    [Fact]
    public void The_id_and_time_are_read_from_the_top_level_of_the_event()
    {
        var time = Start.AddTicks(1_234_560); // microseconds, as PostgreSQL keeps them
        Assert.True(RelayLagTally.TryReadEvent(Event("e-1", time), out var id, out var read));
        Assert.Equal("e-1", id);
        Assert.Equal(time, read);
        Assert.False(RelayLagTally.TryReadEvent("""{"id":"e-1"}"""u8, out _, out _));
        Assert.False(RelayLagTally.TryReadEvent("""{"id":"e-1","time":"yesterday"}"""u8, out _, out _));
        Assert.False(RelayLagTally.TryReadEvent("not json"u8, out _, out _));
    }

    [Fact]
    public void Only_first_deliveries_of_events_committed_in_the_window_are_measured()
    {
        var tally = new RelayLagTally();
        tally.Record(Event("before-window", Start.AddSeconds(1)), Start.AddSeconds(2)); // nothing is measured before SetWindow
        tally.SetWindow(Start.AddSeconds(10), Start.AddSeconds(20));
        tally.Record(Event("warmup", Start.AddSeconds(9)), Start.AddSeconds(12));
        for (var i = 0; i < 98; i++)
            tally.Record(Event($"e{i}", Start.AddSeconds(11)), Start.AddSeconds(11).AddMilliseconds(2)); // 2 ms
        tally.Record(Event("slow-1", Start.AddSeconds(15)), Start.AddSeconds(15.5));                   // 500 ms
        tally.Record(Event("slow-2", Start.AddSeconds(19.9)), Start.AddSeconds(20.4));                 // 500 ms, delivered after the window
        tally.Record(Event("e0", Start.AddSeconds(11)), Start.AddSeconds(30));                         // a redelivery: not measured again
        tally.Record(Event("after-window", Start.AddSeconds(20)), Start.AddSeconds(20.001));
        tally.Record("{}"u8, Start.AddSeconds(12));

        var summary = tally.Summarize();
        Assert.Equal(100, tally.Measured);
        Assert.Equal(105, summary.Deliveries);
        Assert.Equal(1, summary.Duplicates);
        Assert.Equal(1, summary.Unreadable);
        Assert.Equal(100, summary.LagMs.Count);
        Assert.Equal(2.0, summary.LagMs.P50Ms, 1);
        Assert.Equal(500.0, summary.LagMs.MaxMs, 0);
        Assert.Equal(2.0, summary.LagMs.P90Ms, 1);
        Assert.Equal(500.0, summary.LagMs.P99Ms, 0);
    }

    [Fact]
    public void The_relay_lag_is_printed_only_when_it_was_measured()
    {
        var options = new LoadOptions(new Uri("http://localhost:8001"), new Uri("http://localhost:8002"), 64, TimeSpan.FromSeconds(10), null,
            TimeSpan.Zero, OrderMix.Default, 1, 1, TimeSpan.Zero, TimeSpan.FromSeconds(1), false);
        var conservation = ConservationResult.Check([]);
        var without = RunSummary.Create(options, TimeSpan.FromSeconds(10), 0, new ClientTally(1), new Dictionary<string, long>(), 0, conservation);
        Assert.DoesNotContain("relay lag", without.ToText());

        var tally = new RelayLagTally();
        tally.SetWindow(Start, Start.AddSeconds(1));
        tally.Record(Event("e", Start), Start.AddMilliseconds(3));
        tally.Record(Event("e", Start), Start.AddMilliseconds(9));
        var with = RunSummary.Create(options, TimeSpan.FromSeconds(10), 0, new ClientTally(1), new Dictionary<string, long>(), 0, conservation, tally.Summarize());
        Assert.Matches(@"relay lag  ms p50 3\.00\d  p90", with.ToText());
        Assert.Contains("(1 events committed in the measured window; 2 deliveries, 1 duplicates)", with.ToText());
    }
}

/// <summary>The consumer against a real broker: it binds to oms.events itself, so an event published after it started is measured.</summary>
public sealed class RelayLagMeterTests
{
    [Fact]
    public async Task The_meter_receives_every_event_type_published_to_oms_events_and_measures_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await Oms.Testing.RabbitMqNode.StartAsync();
        var tally = new RelayLagTally();
        var start = DateTimeOffset.UtcNow;
        tally.SetWindow(start.AddMinutes(-1), start.AddMinutes(1));
        await using (await RelayLagMeter.StartAsync(new Uri(node.AmqpUri), tally, ct))
        {
            var factory = new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(node.AmqpUri) };
            await using var connection = await factory.CreateConnectionAsync(ct);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            string[] types = ["order.created", "order.confirmed", "order.cancelled"];
            foreach (var (type, i) in types.Select((t, i) => (t, i)))
            {
                var body = Encoding.UTF8.GetBytes($$"""{"specversion":"1.0","id":"e{{i}}","type":"{{type}}","time":"{{start:O}}"}""");
                await channel.BasicPublishAsync(RelayLagMeter.Exchange, type, mandatory: true, new RabbitMQ.Client.BasicProperties(), body, ct);
            }

            await Eventually.UntilAsync(() => Task.FromResult(tally.Measured >= types.Length), TimeSpan.FromSeconds(30),
                $"the lag consumer to measure all {types.Length} events");
        }

        var summary = tally.Summarize();
        Assert.Equal(3, summary.Deliveries);
        Assert.Equal(3, summary.LagMs.Count);
        Assert.True(summary.LagMs.MaxMs < 60_000, $"lag {summary.LagMs.MaxMs} ms: measured from the event's time, not some other clock");
    }
}
