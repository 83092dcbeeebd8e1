using Xunit;

namespace Oms.LoadGen.Tests;

public sealed class StatisticsTests
{
    [Fact]
    public void Percentiles_of_1_to_1000_microseconds()
    {
        var histogram = Latency.NewHistogram();
        for (var us = 1; us <= 1000; us++) histogram.RecordValue(us);
        var summary = Latency.Summarize(histogram);
        Assert.Equal(1000, summary.Count);
        Assert.Equal(0.500, summary.P50Ms);
        Assert.Equal(0.900, summary.P90Ms);
        Assert.Equal(0.990, summary.P99Ms);
        Assert.Equal(0.999, summary.P999Ms);
        Assert.Equal(1.000, summary.MaxMs);
        Assert.Equal(0.5005, summary.MeanMs, 3);
    }

    [Fact]
    public void A_slow_tail_shows_in_p99_and_max_but_not_p50()
    {
        var histogram = Latency.NewHistogram();
        for (var i = 0; i < 980; i++) histogram.RecordValue(2_000);      // 2 ms
        for (var i = 0; i < 20; i++) histogram.RecordValue(250_000);     // 250 ms
        var summary = Latency.Summarize(histogram);
        Assert.Equal(2.0, summary.P50Ms, 2);
        Assert.Equal(2.0, summary.P90Ms, 2);
        Assert.Equal(250.0, summary.P99Ms, 0);   // 3 significant digits
        Assert.Equal(250.0, summary.MaxMs, 0);
    }

    [Fact]
    public void Empty_histogram_summarizes_to_zeros()
    {
        var summary = Latency.Summarize(Latency.NewHistogram());
        Assert.Equal(new LatencySummary(0, 0, 0, 0, 0, 0, 0), summary);
    }

    [Theory]
    [InlineData(3000, 2.0, 1500.0)]
    [InlineData(1000, 0.5, 2000.0)]
    [InlineData(10, 3.0, 3.3)]
    [InlineData(100, 0.0, 0.0)]
    [InlineData(0, 10.0, 0.0)]
    public void Throughput_is_completions_over_the_window(long completed, double seconds, double expected) =>
        Assert.Equal(expected, Throughput.PerSecond(completed, TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Client_tallies_merge()
    {
        var a = new ClientTally(3);
        var b = new ClientTally(3);
        a.Histogram.RecordValue(1_000);
        b.Histogram.RecordValue(3_000);
        a.CountStatus(201);
        a.CountStatus(201);
        b.CountStatus(201);
        b.CountStatus(0);
        a.CountFinal("CONFIRMED");
        b.CountFinal(ClientTally.FinalKey("FAILED", "PAYMENT_DECLINED"));
        a.ConfirmedQuantity[0] = 2;
        b.ConfirmedQuantity[0] = 1;
        b.ConfirmedQuantity[2] = 5;
        a.Measured = 2;
        b.Measured = 1;
        b.Errors = 1;

        var merged = ClientTally.Merge([a, b], 3);
        Assert.Equal(2, merged.Histogram.TotalCount);
        Assert.Equal(3, merged.StatusCodes[201]);
        Assert.Equal(1, merged.StatusCodes[0]);
        Assert.Equal(1, merged.FinalStatuses["CONFIRMED"]);
        Assert.Equal(1, merged.FinalStatuses["FAILED:PAYMENT_DECLINED"]);
        Assert.Equal([3L, 0L, 5L], merged.ConfirmedQuantity);
        Assert.Equal(3, merged.Measured);
        Assert.Equal(1, merged.Errors);
    }

    [Fact]
    public void Conservation_holds_exactly_when_nothing_is_pending()
    {
        var ok = new SkuBalance("A", Seeded: 100, Available: 60, Confirmed: 40, PendingQuantity: 0);
        var oversold = new SkuBalance("B", Seeded: 100, Available: 50, Confirmed: 40, PendingQuantity: 0);
        var created = new SkuBalance("C", Seeded: 100, Available: 70, Confirmed: 40, PendingQuantity: 0);
        Assert.True(ok.Holds);
        Assert.False(oversold.Holds);
        Assert.Equal(10, oversold.Unaccounted);
        Assert.False(created.Holds);

        var result = ConservationResult.Check([ok, oversold, created]);
        Assert.False(result.Ok);
        Assert.Equal(3, result.SkusChecked);
        Assert.Equal(["B", "C"], result.Violations.Select(v => v.Sku));
        Assert.Equal(300, result.Seeded);
        Assert.Equal(120, result.Confirmed);
    }

    [Fact]
    public void Pending_orders_may_hold_up_to_their_quantity()
    {
        Assert.True(new SkuBalance("A", 100, 57, 40, PendingQuantity: 3).Holds);  // all three hold stock
        Assert.True(new SkuBalance("A", 100, 60, 40, PendingQuantity: 3).Holds);  // none do
        Assert.False(new SkuBalance("A", 100, 56, 40, PendingQuantity: 3).Holds); // one unit more than they could hold
        Assert.True(ConservationResult.Check([new SkuBalance("A", 10, 10, 0, 0)]).Ok);
    }

    [Fact]
    public void Summary_text_and_json_carry_the_numbers()
    {
        var options = new LoadOptions(new Uri("http://localhost:8001"), new Uri("http://localhost:8002"), 64, TimeSpan.FromSeconds(2), null,
            TimeSpan.FromSeconds(1), new OrderMix(90, 5, 5), 4, 1000, TimeSpan.Zero, TimeSpan.FromSeconds(30), true);
        var tally = new ClientTally(2);
        for (var i = 1; i <= 100; i++) tally.Histogram.RecordValue(i * 10); // 10 µs .. 1 ms: exact at 3 digits
        tally.Measured = 100;
        tally.CountStatus(201);
        tally.CountFinal("CONFIRMED");
        var conservation = ConservationResult.Check([new SkuBalance("X", 1000, 999, 1, 0)]);
        var summary = RunSummary.Create(options, TimeSpan.FromSeconds(2), 120, tally, new Dictionary<string, long>(), 0, conservation);

        Assert.Equal(50.0, summary.OrdersPerS);
        Assert.Equal(0.5, summary.LatencyMs.P50Ms);
        Assert.Equal(0.99, summary.LatencyMs.P99Ms);
        var text = summary.ToText();
        Assert.Contains("orders/s   50.0", text);
        Assert.Contains("p99 0.990", text);
        Assert.Contains("conserved over 1 SKUs", text);

        // Cancels get their own status counts and latency (the order figures stay the placing requests').
        tally.CancelHistogram.RecordValue(2000);
        tally.CountCancelStatus(200);
        var withCancels = RunSummary.Create(options with { Lines = 5 }, TimeSpan.FromSeconds(2), 120, tally, new Dictionary<string, long>(), 0, conservation);
        Assert.Contains("cancels    200: 1   latency ms p50 2.000", withCancels.ToText());
        Assert.Contains("5 line(s) per order", withCancels.ToText());
        Assert.Equal(0.5, withCancels.LatencyMs.P50Ms);

        var json = System.Text.Json.JsonDocument.Parse(System.Text.Json.JsonSerializer.Serialize(summary, SummaryJsonContext.Default.RunSummary));
        var root = json.RootElement;
        Assert.Equal(50.0, root.GetProperty("orders_per_s").GetDouble());
        Assert.Equal(0.99, root.GetProperty("latency_ms").GetProperty("p99_ms").GetDouble());
        Assert.Equal(1, root.GetProperty("status_codes").GetProperty("201").GetInt64());
        Assert.Equal(1, root.GetProperty("lines").GetInt32());
        Assert.Equal(0, root.GetProperty("cancel_latency_ms").GetProperty("count").GetInt64());
        Assert.DoesNotContain("cancels", text); // no cancel line without cancels
        Assert.True(root.GetProperty("conservation").GetProperty("ok").GetBoolean());
    }

    [Fact]
    public void Order_answers_read_status_and_reason_from_the_top_level_only()
    {
        var answer = Runner.ReadAnswer("""{"order_id":"x","status":"FAILED","nested":{"status":"CONFIRMED"},"failure_reason":"PAYMENT_DECLINED"}"""u8);
        Assert.Equal("FAILED", answer.Status);
        Assert.Equal("PAYMENT_DECLINED", answer.FailureReason);
        Assert.Equal("x", answer.OrderId);
        var confirmed = Runner.ReadAnswer("""{"status":"CONFIRMED","failure_reason":null}"""u8);
        Assert.Equal("CONFIRMED", confirmed.Status);
        Assert.Null(confirmed.FailureReason);
        Assert.Null(confirmed.OrderId);
    }
}
