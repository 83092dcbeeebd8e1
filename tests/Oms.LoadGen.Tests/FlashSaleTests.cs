using System.Text.Json;
using Xunit;

namespace Oms.LoadGen.Tests;

/// <summary>The flash-sale scenario's options, baskets and verdict (the run itself against the real system: Orders.Api.Tests' FlashSaleTests).</summary>
public sealed class FlashSaleTests
{
    private static (LoadOptions? Options, IReadOnlyList<string> Errors) Parse(params string[] args)
    {
        var command = new LoadGenCommand((_, _) => Task.FromResult(0));
        var result = command.Parse(args);
        return (result.Errors.Count == 0 ? command.ToOptions(result) : null, result.Errors.Select(e => e.Message).ToList());
    }

    [Fact]
    public void A_flash_sale_defaults_to_1000_units_and_20000_orders_every_one_measured()
    {
        var (options, errors) = Parse("--scenario", "flash-sale");
        Assert.Empty(errors);
        Assert.Equal(new FlashSaleOptions(1000, 0), options!.FlashSale);
        Assert.Equal(20_000, options.Count);
        Assert.Null(options.Duration);
        Assert.Equal(TimeSpan.Zero, options.Warmup);
        Assert.Equal(OrderMix.Default, options.Mix);
        Assert.Equal(1, options.Lines);

        // The steady scenario is unchanged by the new options.
        (options, errors) = Parse("--scenario", "steady");
        Assert.Empty(errors);
        Assert.Null(options!.FlashSale);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Duration);
        Assert.Null(Parse().Options!.FlashSale);
    }

    [Fact]
    public void Every_flash_sale_option_parses()
    {
        var (options, errors) = Parse("--scenario", "flash-sale", "--stock", "500", "--count", "7000", "--clients", "256", "--lines", "4",
            "--single-line-percent", "30", "--skus", "10", "--stock-per-sku", "5000");
        Assert.Empty(errors);
        Assert.Equal(new FlashSaleOptions(500, 30), options!.FlashSale);
        Assert.Equal(7000, options.Count);
        Assert.Equal(256, options.Clients);
        Assert.Equal(4, options.Lines);
        Assert.Equal(10, options.Skus);
        Assert.Equal(5000, options.StockPerSku);
    }

    [Theory]
    [InlineData("--scenario", "black-friday")]
    [InlineData("--scenario", "flash-sale", "--stock", "0")]
    [InlineData("--scenario", "flash-sale", "--stock", "lots")]
    [InlineData("--scenario", "flash-sale", "--duration", "30s")]
    [InlineData("--scenario", "flash-sale", "--warmup", "5s")]
    [InlineData("--scenario", "flash-sale", "--mix", "confirmed=90,declined=10")]
    [InlineData("--scenario", "flash-sale", "--lines", "3", "--single-line-percent", "101")]
    [InlineData("--scenario", "flash-sale", "--lines", "3", "--single-line-percent", "-1")]
    [InlineData("--scenario", "flash-sale", "--single-line-percent", "50")]
    [InlineData("--scenario", "flash-sale", "--lines", "1", "--single-line-percent", "50")]
    [InlineData("--stock", "1000")]
    [InlineData("--lines", "3", "--single-line-percent", "50")]
    public void Options_that_do_not_fit_a_flash_sale_are_refused(params string[] args)
    {
        var (options, errors) = Parse(args);
        Assert.Null(options);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public void A_basket_is_the_hot_sku_first_then_distinct_plentiful_skus()
    {
        var sale = new FlashSaleOptions(1000);
        var random = new Random(11);
        for (var sequence = 0; sequence < 500; sequence++)
        {
            var basket = sale.PickBasket(random, sequence, lines: 4, skuCount: 6);
            Assert.Equal(4, basket.Length);
            Assert.Equal(FlashSaleOptions.HotIndex, basket[0]);
            Assert.Equal(4, basket.Distinct().Count());
            Assert.All(basket.Skip(1), i => Assert.InRange(i, 1, 5));
        }
        Assert.Equal([FlashSaleOptions.HotIndex], sale.PickBasket(random, 3, lines: 1, skuCount: 1));
        // Every plentiful SKU may be picked: with 5 of them and 4 other lines, over many baskets each one shows up.
        var seen = Enumerable.Range(0, 200).SelectMany(s => sale.PickBasket(random, s, 5, 6)).ToHashSet();
        Assert.Equal(Enumerable.Range(0, 6), seen.Order());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(30)]
    [InlineData(50)]
    [InlineData(100)]
    public void The_one_line_share_is_exact_over_every_100_orders_and_spread_out(int percent)
    {
        var sale = new FlashSaleOptions(1000, percent);
        var random = new Random(3);
        for (var start = 0L; start < 1000; start += 37)
            Assert.Equal(percent, Enumerable.Range(0, 100).Count(i => sale.PickBasket(random, start + i, 3, 10).Length == 1));
        if (percent == 50)
        {
            // Not in blocks: no run of more than a few of one kind.
            var kinds = Enumerable.Range(0, 100).Select(i => sale.IsSingleLine(i)).ToArray();
            var longest = kinds.Select((k, i) => kinds.Skip(i).TakeWhile(x => x == k).Count()).Max();
            Assert.InRange(longest, 1, 5);
        }
    }

    private static SkuBalance Hot(long available, long confirmed) => new("hot", 1000, available, confirmed, 0);
    private static readonly ConservationResult Conserved = ConservationResult.Check([Hot(0, 1000)]);

    private static SortedDictionary<string, long> Outcomes(params (string Key, long Count)[] counts) =>
        new(counts.ToDictionary(c => c.Key, c => c.Count), StringComparer.Ordinal);

    [Fact]
    public void Exact_books_pass()
    {
        var verdict = FlashSaleVerdict.Check(new FlashSaleOptions(1000), 20_000,
            Outcomes(("CONFIRMED", 1000), ("FAILED:INSUFFICIENT_STOCK", 19_000)), errors: 0, Hot(0, 1000), Conserved);
        Assert.True(verdict.Ok, string.Join("; ", verdict.Problems));
        Assert.Empty(verdict.Problems);
        Assert.Equal(1000, verdict.ExpectedConfirmed);
        Assert.StartsWith("flash sale EXACT: 1000 units of hot, 20000 orders -> 1000 CONFIRMED", verdict.ToText());

        // Fewer orders than units: every order is confirmed and the rest stays on the shelf.
        var undersold = FlashSaleVerdict.Check(new FlashSaleOptions(1000), 400, Outcomes(("CONFIRMED", 400)), 0, Hot(600, 400),
            ConservationResult.Check([Hot(600, 400)]));
        Assert.True(undersold.Ok, string.Join("; ", undersold.Problems));
        Assert.Equal(400, undersold.ExpectedConfirmed);
    }

    public static TheoryData<string, long, long, long, long, long, string> WrongBooks => new()
    {
        // what, confirmed orders, hot units confirmed, insufficient stock, errors, hot available, the problem named
        { "oversold", 1001, 1001, 18_999, 0, 0, "1001 orders CONFIRMED, expected exactly 1000" },
        { "undersold", 999, 999, 19_001, 0, 1, "999 orders CONFIRMED, expected exactly 1000" },
        { "an order confirmed without its hot unit", 1000, 999, 19_000, 0, 0, "999 hot units in CONFIRMED orders" },
        { "a transport error", 1000, 1000, 19_000, 1, 0, "1 errors" },
        { "a unit too many on the shelf", 1000, 1000, 19_000, 0, 1, "the hot SKU has 1 units left, expected 0" },
    };

    [Theory]
    [MemberData(nameof(WrongBooks))]
    public void Wrong_books_fail_and_say_why(string what, long confirmed, long hotUnits, long insufficient, long errors, long hotAvailable, string problem)
    {
        var verdict = FlashSaleVerdict.Check(new FlashSaleOptions(1000), 20_000,
            Outcomes(("CONFIRMED", confirmed), ("FAILED:INSUFFICIENT_STOCK", insufficient)), errors, Hot(hotAvailable, hotUnits), Conserved);
        Assert.False(verdict.Ok, what);
        Assert.Contains(verdict.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        Assert.StartsWith("flash sale WRONG", verdict.ToText());
    }

    [Theory]
    [InlineData("FAILED:PAYMENT_DECLINED")]
    [InlineData("FAILED:INVENTORY_UNAVAILABLE")]
    [InlineData("STILL_PENDING")]
    [InlineData("REJECTED")]
    public void Any_other_outcome_fails_even_when_the_units_add_up(string other)
    {
        var verdict = FlashSaleVerdict.Check(new FlashSaleOptions(1000), 20_000,
            Outcomes(("CONFIRMED", 1000), ("FAILED:INSUFFICIENT_STOCK", 18_999), (other, 1)), 0, Hot(0, 1000), Conserved);
        Assert.False(verdict.Ok);
        Assert.Contains($"1 orders {other}", verdict.Problems);
    }

    [Fact]
    public void Stock_not_conserved_on_another_sku_fails_the_sale()
    {
        var broken = ConservationResult.Check([Hot(0, 1000), new SkuBalance("plentiful", 100, 90, 9, 0)]);
        var verdict = FlashSaleVerdict.Check(new FlashSaleOptions(1000), 20_000,
            Outcomes(("CONFIRMED", 1000), ("FAILED:INSUFFICIENT_STOCK", 19_000)), 0, Hot(0, 1000), broken);
        Assert.False(verdict.Ok);
        Assert.Contains("stock not conserved on 1 SKU(s)", verdict.Problems);
    }

    [Fact]
    public void Pending_and_unanswered_orders_count_by_what_their_replays_found()
    {
        var first = new Dictionary<string, long> { ["CONFIRMED"] = 990, ["FAILED:INSUFFICIENT_STOCK"] = 18_000, ["PENDING"] = 1005, ["NO_ANSWER"] = 5 };
        var settled = new Dictionary<string, long> { ["CONFIRMED"] = 10, ["FAILED:INSUFFICIENT_STOCK"] = 1000 };
        Assert.Equal(Outcomes(("CONFIRMED", 1000), ("FAILED:INSUFFICIENT_STOCK", 19_000)), FlashSaleVerdict.FinalOutcomes(first, settled));
        settled["FAILED:INSUFFICIENT_STOCK"] = 995;
        settled["STILL_PENDING"] = 5;
        Assert.Equal(5, FlashSaleVerdict.FinalOutcomes(first, settled)["STILL_PENDING"]);
    }

    [Fact]
    public void The_summary_carries_the_verdict_in_text_and_json_and_its_exit_code_follows_it()
    {
        var (options, _) = Parse("--scenario", "flash-sale", "--lines", "3", "--single-line-percent", "50", "--json");
        var tally = new ClientTally(2);
        tally.Histogram.RecordValue(2000);
        tally.Measured = 1;
        var exact = FlashSaleVerdict.Check(options!.FlashSale!, 20_000, Outcomes(("CONFIRMED", 1000), ("FAILED:INSUFFICIENT_STOCK", 19_000)), 0,
            Hot(0, 1000), Conserved);
        var summary = RunSummary.Create(options, TimeSpan.FromSeconds(10), 20_000, tally, new Dictionary<string, long>(), 0, Conserved, flashSale: exact);
        Assert.True(summary.Ok);
        Assert.StartsWith("flash sale: clients 64, 3 line(s) per basket (50 % one-line), 1000 units of one SKU", summary.ToText());
        Assert.Contains("flash sale EXACT", summary.ToText());

        var json = JsonDocument.Parse(JsonSerializer.Serialize(summary, SummaryJsonContext.Default.RunSummary)).RootElement;
        Assert.Equal("flash-sale", json.GetProperty("scenario").GetString());
        var sale = json.GetProperty("flash_sale");
        Assert.True(sale.GetProperty("ok").GetBoolean());
        Assert.Equal(1000, sale.GetProperty("confirmed").GetInt64());
        Assert.Equal(19_000, sale.GetProperty("insufficient_stock").GetInt64());
        Assert.Equal(50, sale.GetProperty("single_line_percent").GetInt32());
        Assert.Equal(2.0, json.GetProperty("latency_ms").GetProperty("p99_ms").GetDouble());
        Assert.False(json.TryGetProperty("ok", out _)); // the exit code's summary of conservation and verdict, not a field

        var wrong = summary with { FlashSale = exact with { Ok = false } };
        Assert.False(wrong.Ok);
        Assert.False((summary with { Conservation = ConservationResult.Check([Hot(1, 1000)]) }).Ok);
        // A steady run has no verdict: only conservation decides.
        Assert.True((summary with { FlashSale = null }).Ok);
        Assert.Equal("steady", JsonDocument.Parse(JsonSerializer.Serialize(
            RunSummary.Create(Parse().Options!, TimeSpan.FromSeconds(1), 0, tally, new Dictionary<string, long>(), 0, Conserved),
            SummaryJsonContext.Default.RunSummary)).RootElement.GetProperty("scenario").GetString());
    }
}
