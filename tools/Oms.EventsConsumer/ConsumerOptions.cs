namespace Oms.EventsConsumer;

/// <summary>What the consumer connects to and how it consumes. Each option: a command-line flag, else an environment variable, else the default.</summary>
public sealed record ConsumerOptions
{
    /// <summary>RabbitMQ's out-of-the-box user, which it accepts on localhost only.</summary>
    public const string DefaultUri = "amqp://guest:guest@localhost:5672";
    public const string DefaultQueue = "oms-events-consumer";
    public const string DefaultBinding = "#";
    public const ushort DefaultPrefetch = 32;
    public const int DefaultDedupeCapacity = 100_000;

    public string Uri { get; init; } = DefaultUri;

    /// <summary>A durable queue of this consumer's own: events routed while it is stopped wait there.</summary>
    public string Queue { get; init; } = DefaultQueue;

    /// <summary>Binding keys on oms.events (routing key = event type): "#" all, "order.confirmed" one, "order.*" all order events.</summary>
    public IReadOnlyList<string> Bindings { get; init; } = [DefaultBinding];

    /// <summary>How many unacked deliveries the broker hands over at once.</summary>
    public ushort Prefetch { get; init; } = DefaultPrefetch;

    /// <summary>How many recent event ids the in-memory deduplication remembers.</summary>
    public int DedupeCapacity { get; init; } = DefaultDedupeCapacity;

    /// <summary>How long the client waits between reconnection attempts when the broker is gone.</summary>
    public TimeSpan RecoveryInterval { get; init; } = TimeSpan.FromSeconds(2);

    public const string Usage = """
        Oms.EventsConsumer: prints the order events published to the RabbitMQ exchange oms.events, one line each.

          --uri URI            AMQP URI (env OMS_EVENTS_URI, else ConnectionStrings__events; default amqp://guest:guest@localhost:5672)
          --queue NAME         durable queue to consume (env OMS_EVENTS_QUEUE; default oms-events-consumer)
          --binding KEY        binding key on oms.events, repeatable (env OMS_EVENTS_BINDING, comma-separated; default #)
          --prefetch N         unacked deliveries in flight, 1-65535 (env OMS_EVENTS_PREFETCH; default 32)
          --dedupe-capacity N  recent event ids remembered for deduplication (env OMS_EVENTS_DEDUPE_CAPACITY; default 100000)
          --help               this text

        Events go to stdout; connection notes, skipped duplicates and rejected messages to stderr. Ctrl+C stops it.
        """;

    /// <returns>false with <paramref name="error"/> null for --help, with an error message for bad input.</returns>
    public static bool TryParse(IReadOnlyList<string> args, Func<string, string?> environment, out ConsumerOptions options, out string? error)
    {
        options = new ConsumerOptions();
        error = null;
        string? Env(string name) => environment(name) is { Length: > 0 } value ? value : null;

        var uri = Env("OMS_EVENTS_URI") ?? Env("ConnectionStrings__events");
        var queue = Env("OMS_EVENTS_QUEUE");
        var bindings = Env("OMS_EVENTS_BINDING")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        var prefetch = Env("OMS_EVENTS_PREFETCH");
        var capacity = Env("OMS_EVENTS_DEDUPE_CAPACITY");
        List<string>? argBindings = null;

        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            if (flag is "--help" or "-h") return false;
            if (flag is not ("--uri" or "--queue" or "--binding" or "--prefetch" or "--dedupe-capacity"))
            {
                error = $"unknown argument '{flag}'";
                return false;
            }
            if (i + 1 >= args.Count || args[i + 1].Length == 0)
            {
                error = $"{flag} needs a value";
                return false;
            }
            var value = args[++i];
            switch (flag)
            {
                case "--uri": uri = value; break;
                case "--queue": queue = value; break;
                case "--binding": (argBindings ??= []).Add(value); break;
                case "--prefetch": prefetch = value; break;
                case "--dedupe-capacity": capacity = value; break;
            }
        }

        if (uri is not null && (!System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("amqp" or "amqps")))
        {
            error = $"--uri must be an amqp:// or amqps:// URI, got '{uri}'";
            return false;
        }
        ushort prefetchCount = DefaultPrefetch;
        if (prefetch is not null && (!ushort.TryParse(prefetch, out prefetchCount) || prefetchCount == 0))
        {
            error = $"--prefetch must be a whole number from 1 to {ushort.MaxValue}, got '{prefetch}'";
            return false;
        }
        var dedupeCapacity = DefaultDedupeCapacity;
        if (capacity is not null && (!int.TryParse(capacity, out dedupeCapacity) || dedupeCapacity < 1))
        {
            error = $"--dedupe-capacity must be a positive whole number, got '{capacity}'";
            return false;
        }

        options = new ConsumerOptions
        {
            Uri = uri ?? DefaultUri,
            Queue = queue ?? DefaultQueue,
            Bindings = argBindings ?? (bindings is { Count: > 0 } ? bindings : [DefaultBinding]),
            Prefetch = prefetchCount,
            DedupeCapacity = dedupeCapacity,
        };
        return true;
    }
}
