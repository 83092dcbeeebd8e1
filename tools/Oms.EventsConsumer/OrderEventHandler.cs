using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;

namespace Oms.EventsConsumer;

public enum Outcome
{
    /// <summary>New event: handled (printed); ack it.</summary>
    Handled,
    /// <summary>An event id already handled (at-least-once delivery): skipped; ack it.</summary>
    Duplicate,
    /// <summary>Not a CloudEvent we can read: reject it without requeueing (a poison message would loop forever).</summary>
    Rejected,
}

public sealed record HandleResult(Outcome Outcome, CloudEvent? Event, string? Problem = null);

/// <summary>
/// What the consumer does with one delivery: decode the structured-mode CloudEvent with the SDK, skip it when its id was
/// handled already, else "handle" it — here, print one line. Replace <see cref="Apply"/> with your own effect.
/// Called one delivery at a time (the client dispatches a channel's deliveries sequentially), in queue order.
/// </summary>
public sealed class OrderEventHandler(TextWriter output, int dedupeCapacity)
{
    /// <summary>The extension attribute with the event's position in its order's timeline (1, 2, 3…).</summary>
    public static readonly CloudEventAttribute SequenceAttribute = CloudEventAttribute.CreateExtension("sequence", CloudEventAttributeType.Integer);

    private static readonly JsonEventFormatter Formatter = new();
    private readonly RecentIds _handled = new(dedupeCapacity);
    private int _handledCount, _duplicates, _rejected;

    public int Handled => Volatile.Read(ref _handledCount);
    public int Duplicates => Volatile.Read(ref _duplicates);
    public int Rejected => Volatile.Read(ref _rejected);

    public HandleResult Handle(ReadOnlyMemory<byte> body, string? contentType, bool redelivered)
    {
        CloudEvent cloudEvent;
        try
        {
            cloudEvent = Formatter.DecodeStructuredModeMessage(body, contentType is null ? null : new ContentType(contentType), [SequenceAttribute]);
            if (string.IsNullOrEmpty(cloudEvent.Id) || string.IsNullOrEmpty(cloudEvent.Type))
                throw new ArgumentException("the CloudEvent has no id or no type");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or JsonException)
        {
            Interlocked.Increment(ref _rejected);
            return new HandleResult(Outcome.Rejected, null, e.Message);
        }

        // At least once: the same event can come twice (a redelivery after a lost ack, or the relay re-publishing a batch
        // whose "sent" mark it never wrote). The id is the CloudEvent id = the event's id in the order's timeline.
        if (_handled.Contains(cloudEvent.Id!))
        {
            Interlocked.Increment(ref _duplicates);
            return new HandleResult(Outcome.Duplicate, cloudEvent);
        }
        Apply(cloudEvent, redelivered);
        // Remembered only once handled: had Apply failed, the redelivery must be handled, not skipped.
        _handled.Add(cloudEvent.Id!);
        Interlocked.Increment(ref _handledCount);
        return new HandleResult(Outcome.Handled, cloudEvent);
    }

    private void Apply(CloudEvent cloudEvent, bool redelivered) => output.WriteLine(Format(cloudEvent, redelivered));

    /// <summary>One line per event: time (UTC), type, subject (the order id), sequence, data (compact JSON).</summary>
    public static string Format(CloudEvent cloudEvent, bool redelivered = false)
    {
        var time = cloudEvent.Time?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ") ?? "-";
        var sequence = cloudEvent[SequenceAttribute]?.ToString() ?? "-";
        var data = cloudEvent.Data switch
        {
            null => "-",
            JsonElement json => JsonSerializer.Serialize(json),
            var other => other.ToString(),
        };
        return $"{time} {cloudEvent.Type,-24} order={cloudEvent.Subject} seq={sequence} data={data}{(redelivered ? " (redelivered)" : "")}";
    }
}
