using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using RabbitMQ.Client;

namespace Oms.Testing;

/// <summary>
/// Publishes order events to <c>oms.events</c> as the contract says the relay does (structured-mode CloudEvent,
/// persistent, message_id = event id, routing key = type, publisher-confirmed) — for tests of consumers without the relay.
/// </summary>
public static class TestEventPublisher
{
    private static readonly JsonEventFormatter Formatter = new();

    public static CloudEvent Create(Guid orderId, int sequence, string type, object data, string? id = null) =>
        new(CloudEventsSpecVersion.V1_0, [EventTap.SequenceAttribute])
        {
            Id = id ?? Guid.NewGuid().ToString(),
            Source = new Uri("/oms/orders", UriKind.Relative),
            Type = type,
            Subject = orderId.ToString(),
            // Whole milliseconds: the time survives the JSON round trip exactly (what the database stores is finer).
            Time = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
            DataContentType = "application/json",
            Data = JsonSerializer.SerializeToElement(data),
            [EventTap.SequenceAttribute] = sequence,
        };

    public static async Task PublishAsync(string amqpUri, params CloudEvent[] events)
    {
        var bodies = events.Select(e => (Event: e, Body: Formatter.EncodeStructuredModeMessage(e, out ContentType type), Type: type.ToString()));
        await PublishRawAsync(amqpUri, [.. bodies.Select(b => (b.Event.Type!, b.Event.Id!, b.Type, b.Body))]);
    }

    /// <summary>Publishes arbitrary bodies (e.g. a malformed one) with the given routing key, message id and content type.</summary>
    public static async Task PublishRawAsync(string amqpUri, params (string RoutingKey, string MessageId, string ContentType, ReadOnlyMemory<byte> Body)[] messages)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqpUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.ExchangeDeclareAsync(EventTap.Exchange, ExchangeType.Topic, durable: true, autoDelete: false);
        foreach (var (routingKey, messageId, contentType, body) in messages)
        {
            var properties = new BasicProperties { Persistent = true, MessageId = messageId, ContentType = contentType };
            // In order, each awaited until confirmed: the tests rely on this order.
            await channel.BasicPublishAsync(EventTap.Exchange, routingKey, mandatory: false, properties, body);
        }
    }
}
