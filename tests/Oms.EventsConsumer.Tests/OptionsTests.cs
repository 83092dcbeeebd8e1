namespace Oms.EventsConsumer.Tests;

public sealed class OptionsTests
{
    private static (ConsumerOptions Options, string? Error, bool Ok) Parse(Dictionary<string, string>? env, params string[] args)
    {
        var ok = ConsumerOptions.TryParse(args, name => env?.GetValueOrDefault(name), out var options, out var error);
        return (options, error, ok);
    }

    [Fact]
    public void Without_arguments_or_environment_the_defaults_apply()
    {
        var (options, error, ok) = Parse(null);
        Assert.True(ok, error);
        Assert.Equal((ConsumerOptions.DefaultUri, "oms-events-consumer", 32, 100_000), (options.Uri, options.Queue, (int)options.Prefetch, options.DedupeCapacity));
        Assert.Equal(["#"], options.Bindings);
    }

    [Fact]
    public void Arguments_win_over_the_environment_which_wins_over_the_defaults()
    {
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__events"] = "amqp://svc:pw@broker:5672",
            ["OMS_EVENTS_QUEUE"] = "from-env",
            ["OMS_EVENTS_BINDING"] = "order.confirmed, order.failed",
            ["OMS_EVENTS_PREFETCH"] = "8",
        };
        var (fromEnv, _, _) = Parse(env);
        Assert.Equal(("amqp://svc:pw@broker:5672", "from-env", (ushort)8), (fromEnv.Uri, fromEnv.Queue, fromEnv.Prefetch));
        Assert.Equal(["order.confirmed", "order.failed"], fromEnv.Bindings);

        env["OMS_EVENTS_URI"] = "amqp://other:pw@rabbit:5672/shop";
        var (fromArgs, error, ok) = Parse(env, "--queue", "mine", "--binding", "order.*", "--binding", "order.cancelled", "--prefetch", "1");
        Assert.True(ok, error);
        Assert.Equal(("amqp://other:pw@rabbit:5672/shop", "mine", (ushort)1), (fromArgs.Uri, fromArgs.Queue, fromArgs.Prefetch));
        Assert.Equal(["order.*", "order.cancelled"], fromArgs.Bindings);
    }

    [Theory]
    [InlineData("--uri", "http://localhost:5672", "--uri must be an amqp:// or amqps:// URI")]
    [InlineData("--prefetch", "70000", "--prefetch must be a whole number from 1 to 65535")]
    [InlineData("--dedupe-capacity", "0", "--dedupe-capacity must be a positive whole number")]
    [InlineData("--queue", "", "--queue needs a value")]
    [InlineData("--verbose", "x", "unknown argument '--verbose'")]
    public void Bad_input_is_refused_with_the_reason(string flag, string value, string reason)
    {
        var (_, error, ok) = Parse(null, flag, value);
        Assert.False(ok);
        Assert.StartsWith(reason, error);
    }

    [Fact]
    public void Help_is_not_an_error() => Assert.Equal((false, (string?)null), (Parse(null, "--help").Ok, Parse(null, "--help").Error));

    [Fact]
    public void The_dedupe_set_forgets_the_oldest_id_beyond_its_capacity()
    {
        var ids = new RecentIds(2);
        ids.Add("a");
        ids.Add("b");
        ids.Add("a"); // already there: no second slot
        ids.Add("c");
        Assert.Equal((false, true, true, 2), (ids.Contains("a"), ids.Contains("b"), ids.Contains("c"), ids.Count));
    }
}
