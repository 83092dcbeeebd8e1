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
        Assert.False(options.Json);
    }

    [Fact]
    public void All_options_parse()
    {
        var (options, errors) = Parse("--orders-url", "http://10.0.0.1:9001", "--inventory-url", "http://10.0.0.1:9002", "--clients", "256",
            "--duration", "2m", "--warmup", "0s", "--mix", "confirmed=90,declined=5,out-of-stock=5", "--skus", "10", "--json");
        Assert.Empty(errors);
        Assert.Equal(new Uri("http://10.0.0.1:9001"), options!.OrdersUrl);
        Assert.Equal(new Uri("http://10.0.0.1:9002"), options.InventoryUrl);
        Assert.Equal(256, options.Clients);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Duration);
        Assert.Equal(TimeSpan.Zero, options.Warmup);
        Assert.Equal(new OrderMix(90, 5, 5), options.Mix);
        Assert.Equal(10, options.Skus);
        Assert.True(options.Json);
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
    public void Mixes_parse(string text, int confirmed, int declined, int outOfStock)
    {
        Assert.True(OrderMix.TryParse(text, out var mix, out var error), error);
        Assert.Equal(new OrderMix(confirmed, declined, outOfStock), mix);
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
