using Xunit;

namespace Oms.LoadGen.Tests;

public sealed class ArgumentTests
{
    private static (LoadOptions? Options, IReadOnlyList<string> Errors) Parse(params string[] args)
    {
        var command = new LoadGenCommand((_, _) => Task.FromResult(0));
        var result = command.Parse(args);
        return (result.Errors.Count == 0 ? command.ToOptions(result) : null, result.Errors.Select(e => e.Message).ToList());
    }

    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("500ms", 500)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("45", 45_000)]
    [InlineData(" 10S ", 10_000)]
    public void Durations_parse(string text, double expectedMs)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("10x")]
    [InlineData("-5s")]
    [InlineData("10 s")]
    [InlineData("1e3s")]
    [InlineData("abc")]
    [InlineData("99999999999999h")]
    public void Bad_durations_are_rejected(string text) => Assert.False(Durations.TryParse(text, out _));

    [Fact]
    public void Defaults_are_64_clients_for_30_seconds_after_5_seconds_warmup()
    {
        var (options, errors) = Parse();
        Assert.Empty(errors);
        Assert.Equal(64, options!.Clients);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Duration);
        Assert.Null(options.Count);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Warmup);
        Assert.Equal(new Uri("http://localhost:8001"), options.OrdersUrl);
        Assert.Equal(OrderMix.Default, options.Mix);
        Assert.Equal(1, options.Lines);
        Assert.False(options.Json);
    }

    [Fact]
    public void All_options_parse()
    {
        var (options, errors) = Parse("--orders-url", "http://10.0.0.1:9001", "--inventory-url", "http://10.0.0.1:9002", "--clients", "256",
            "--duration", "2m", "--warmup", "0s", "--mix", "confirmed=90,declined=5,out-of-stock=5", "--skus", "10", "--lines", "5", "--json");
        Assert.Empty(errors);
        Assert.Equal(new Uri("http://10.0.0.1:9001"), options!.OrdersUrl);
        Assert.Equal(new Uri("http://10.0.0.1:9002"), options.InventoryUrl);
        Assert.Equal(256, options.Clients);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Duration);
        Assert.Equal(TimeSpan.Zero, options.Warmup);
        Assert.Equal(new OrderMix(90, 5, 5), options.Mix);
        Assert.Equal(10, options.Skus);
        Assert.Equal(5, options.Lines);
        Assert.True(options.Json);
    }

    [Fact]
    public void The_broker_uri_turns_the_relay_lag_on_and_is_off_by_default()
    {
        var (options, errors) = Parse("--events-uri", "amqp://oms:secret@127.0.0.1:5672/", "--events-wait", "5s");
        Assert.Empty(errors);
        Assert.Equal(new Uri("amqp://oms:secret@127.0.0.1:5672/"), options!.EventsUri);
        Assert.Equal(TimeSpan.FromSeconds(5), options.EventsWait);

        (options, errors) = Parse();
        Assert.Empty(errors);
        Assert.Null(options!.EventsUri);
        Assert.Equal(LoadGenCommand.DefaultEventsWait, options.EventsWait);
    }

    [Fact]
    public void Count_alone_means_no_time_limit()
    {
        var (options, errors) = Parse("-n", "1000", "-c", "8");
        Assert.Empty(errors);
        Assert.Equal(1000, options!.Count);
        Assert.Null(options.Duration);
        Assert.Equal(8, options.Clients);
    }

    [Theory]
    [InlineData("--clients", "0")]
    [InlineData("--clients", "-3")]
    [InlineData("--clients", "many")]
    [InlineData("--duration", "0s")]
    [InlineData("--duration", "soon")]
    [InlineData("--warmup", "-1s")]
    [InlineData("--count", "0")]
    [InlineData("--mix", "confirmed=0")]
    [InlineData("--mix", "shipped=5")]
    [InlineData("--orders-url", "localhost:8001")]
    [InlineData("--orders-url", "ftp://localhost")]
    [InlineData("--skus", "0")]
    [InlineData("--stock-per-sku", "2000000000")]
    [InlineData("--no-such-option", "1")]
    [InlineData("--lines", "0")]
    [InlineData("--lines", "51")]
    [InlineData("--lines", "two")]
    [InlineData("--mix", "cancel=-1")]
    [InlineData("--events-uri", "http://localhost:5672")]
    [InlineData("--events-uri", "localhost:5672")]
    [InlineData("--events-wait", "later")]
    public void Bad_input_is_rejected(string option, string value)
    {
        var (options, errors) = Parse(option, value);
        Assert.Null(options);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public void Bad_input_exits_non_zero_without_running()
    {
        var ran = false;
        var command = new LoadGenCommand((_, _) => { ran = true; return Task.FromResult(0); });
        var exit = command.Parse(["--clients", "0"]).Invoke(new System.CommandLine.InvocationConfiguration { Error = TextWriter.Null, Output = TextWriter.Null });
        Assert.NotEqual(0, exit);
        Assert.False(ran);
    }

    [Theory]
    [InlineData("confirmed=90,declined=5,out-of-stock=5", 90, 5, 5)]
    [InlineData("declined=1", 0, 1, 0)]
    [InlineData(" Confirmed = 3 , OOS = 1 ", 3, 0, 1)]
    [InlineData("out_of_stock=2,confirmed=8", 8, 0, 2)]
    [InlineData("confirmed=85,declined=5,out-of-stock=5,cancel=5", 85, 5, 5, 5)]
    [InlineData("cancelled=1", 0, 0, 0, 1)]
    public void Mixes_parse(string text, int confirmed, int declined, int outOfStock, int cancel = 0)
    {
        Assert.True(OrderMix.TryParse(text, out var mix, out var error), error);
        Assert.Equal(new OrderMix(confirmed, declined, outOfStock, cancel), mix);
    }

    [Fact]
    public void A_mix_without_cancels_is_written_as_before_cancels_existed()
    {
        Assert.Equal("confirmed=90,declined=5,out-of-stock=5", new OrderMix(90, 5, 5).ToString());
        Assert.Equal("confirmed=90,declined=5,out-of-stock=0,cancel=5", new OrderMix(90, 5, 0, 5).ToString());
        Assert.True(OrderMix.TryParse(new OrderMix(90, 5, 0, 5).ToString(), out var roundTrip, out _));
        Assert.Equal(new OrderMix(90, 5, 0, 5), roundTrip);
    }

    [Fact]
    public void A_cancel_share_gives_exactly_its_weight_and_changes_no_other_kind_of_a_mix_without_it()
    {
        var mix = new OrderMix(85, 5, 5, 5);
        var kinds = Enumerable.Range(0, 100).Select(i => mix.Pick(i)).ToList();
        Assert.Equal(85, kinds.Count(k => k == OrderKind.Confirmed));
        Assert.Equal(5, kinds.Count(k => k == OrderKind.Declined));
        Assert.Equal(5, kinds.Count(k => k == OrderKind.OutOfStock));
        Assert.Equal(5, kinds.Count(k => k == OrderKind.Cancelled));
        // With cancel=0 every pick is what it was before the cancel kind existed.
        var without = new OrderMix(90, 5, 5);
        Assert.DoesNotContain(Enumerable.Range(0, 1000), i => without.Pick(i) == OrderKind.Cancelled);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("5", 5)]
    [InlineData("20", 20)]
    [InlineData("50", 50)]
    public void Lines_parse(string text, int expected)
    {
        var (options, errors) = Parse("--lines", text);
        Assert.Empty(errors);
        Assert.Equal(expected, options!.Lines);
    }

    [Fact]
    public void Lines_may_not_exceed_the_skus_they_are_spread_over()
    {
        var (options, errors) = Parse("--lines", "5", "--skus", "4");
        Assert.Null(options);
        Assert.Contains(errors, e => e.Contains("--lines", StringComparison.Ordinal));
        Assert.Empty(Parse("--lines", "4", "--skus", "4").Errors);
    }

    [Fact]
    public void An_order_of_n_lines_has_n_distinct_skus_and_an_out_of_stock_one_a_line_on_the_empty_sku()
    {
        var random = new Random(7);
        for (var round = 0; round < 200; round++)
        {
            var picked = Runner.PickSkus(random, 5, 6, null);
            Assert.Equal(5, picked.Distinct().Count());
            Assert.All(picked, i => Assert.InRange(i, 0, 5));
        }
        var oos = Runner.PickSkus(random, 3, 10, outOfStock: 10);
        Assert.Equal(10, oos[0]);
        Assert.Equal(3, oos.Distinct().Count());
        Assert.All(oos.Skip(1), i => Assert.InRange(i, 0, 9));
    }

    [Fact]
    public void One_line_is_sent_in_the_seeds_form_and_more_as_items()
    {
        string[] skus = ["s0", "s1", "s2"];
        Assert.Equal("""{"item_sku":"s1","quantity":1,"amount":10.00,"idempotency_key":"k"}""",
            System.Text.Encoding.UTF8.GetString(Runner.OrderBody(skus, [1], "10.00", "k")));
        var json = System.Text.Json.JsonDocument.Parse(Runner.OrderBody(skus, [2, 0], "1500.00", "k2")).RootElement;
        Assert.Equal(["s2", "s0"], json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_sku").GetString()));
        Assert.All(json.GetProperty("items").EnumerateArray(), i => Assert.Equal(1, i.GetProperty("quantity").GetInt32()));
        Assert.Equal(1500.00m, json.GetProperty("amount").GetDecimal());
        Assert.False(json.TryGetProperty("item_sku", out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("confirmed")]
    [InlineData("confirmed=")]
    [InlineData("=5")]
    [InlineData("confirmed=-1")]
    [InlineData("confirmed=1.5")]
    [InlineData("confirmed=1,confirmed=2")]
    [InlineData("confirmed=0,declined=0")]
    [InlineData("refunded=3")]
    public void Bad_mixes_are_rejected(string text)
    {
        Assert.False(OrderMix.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Mix_gives_exactly_its_weights_over_every_cycle_and_interleaves_them()
    {
        var mix = new OrderMix(90, 5, 5);
        for (var cycle = 0; cycle < 3; cycle++)
        {
            var kinds = Enumerable.Range(cycle * 100, 100).Select(i => mix.Pick(i)).ToList();
            Assert.Equal(90, kinds.Count(k => k == OrderKind.Confirmed));
            Assert.Equal(5, kinds.Count(k => k == OrderKind.Declined));
            Assert.Equal(5, kinds.Count(k => k == OrderKind.OutOfStock));
        }
        // Spread out, not one block of each kind.
        var firstTwenty = Enumerable.Range(0, 20).Select(i => mix.Pick(i)).ToList();
        Assert.Contains(OrderKind.Confirmed, firstTwenty);
        Assert.NotEqual(OrderKind.Declined, mix.Pick(0) == OrderKind.Declined ? OrderKind.Confirmed : mix.Pick(0));
        Assert.All(Enumerable.Range(0, 1000), i => Assert.Equal(OrderKind.Confirmed, OrderMix.Default.Pick(i)));
    }

    [Fact]
    public void The_api_key_comes_from_the_option_and_is_sent_as_a_bearer_token()
    {
        var (options, errors) = Parse("--api-key", "k-123_abc");
        Assert.Empty(errors);
        Assert.Equal("k-123_abc", options!.ApiKey);
        using var client = Runner.CreateClient(options);
        Assert.Equal("Bearer k-123_abc", client.DefaultRequestHeaders.Authorization?.ToString());
    }

    [Fact]
    public void Without_the_option_the_api_key_comes_from_the_environment_or_is_absent()
    {
        var saved = Environment.GetEnvironmentVariable(LoadGenCommand.ApiKeyVariable);
        try
        {
            Environment.SetEnvironmentVariable(LoadGenCommand.ApiKeyVariable, null);
            var (open, _) = Parse();
            Assert.Null(open!.ApiKey);
            using (var client = Runner.CreateClient(open)) Assert.Null(client.DefaultRequestHeaders.Authorization);

            Environment.SetEnvironmentVariable(LoadGenCommand.ApiKeyVariable, "from-env");
            Assert.Equal("from-env", Parse().Options!.ApiKey);
            Assert.Equal("given", Parse("--api-key", "given").Options!.ApiKey);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LoadGenCommand.ApiKeyVariable, saved);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("two words")]
    public void A_bad_api_key_is_refused_without_echoing_it(string key)
    {
        var (_, errors) = Parse("--api-key", key);
        var error = Assert.Single(errors);
        Assert.Contains("--api-key", error);
        if (key.Length > 0) Assert.DoesNotContain(key, error);
    }
}
