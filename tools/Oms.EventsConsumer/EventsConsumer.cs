using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Oms.EventsConsumer;

/// <summary>
/// Consumes a durable queue bound to the <c>oms.events</c> topic exchange: manual acks sent only after the handler is
/// done (a crash before the ack means the broker delivers the event again — at least once, never lost), a prefetch
/// window, and the client's automatic recovery, which reconnects after a broker restart and re-opens the channel, the
/// bindings and the consumer by itself.
/// </summary>
public sealed class EventsConsumer : IAsyncDisposable
{
    // A broker that answers slowly (or not at all) must not hold Ctrl+C up: past this the connection is dropped instead.
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The exchange the order service publishes to: durable, topic, routing key = event type (e.g. order.confirmed).</summary>
    public const string Exchange = "oms.events";

    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly TextWriter _log;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _consumerTag;
    private volatile bool _stopping;

    private EventsConsumer(IConnection connection, IChannel channel, TextWriter log) => (_connection, _channel, _log) = (connection, channel, log);

    /// <summary>Faults if the broker ends the subscription for good (e.g. the queue was deleted); otherwise runs until disposed.</summary>
    public Task Completion => _completion.Task;

    public static async Task<EventsConsumer> StartAsync(ConsumerOptions options, OrderEventHandler handler, TextWriter log, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(options.Uri),
            ClientProvidedName = "oms-events-consumer",
            // After a broker restart or a network cut: reconnect every RecoveryInterval, then redeclare the queue,
            // its bindings and the consumer. (Only after a first successful connect; the loop below covers the first.)
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = options.RecoveryInterval,
            // One delivery at a time, in queue order (the default, said out loud): per-order sequence order is kept.
            ConsumerDispatchConcurrency = 1,
        };
        var where = $"{factory.HostName}:{factory.Port}{(factory.VirtualHost == "/" ? "" : "/" + factory.VirtualHost)}";
        var connection = await ConnectAsync(factory, where, options.RecoveryInterval, log, cancellationToken);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var consumer = new EventsConsumer(connection, channel, log);
            connection.ConnectionShutdownAsync += (_, e) => e.Initiator == ShutdownInitiator.Application
                ? Task.CompletedTask // our own clean stop
                : consumer.Note($"connection lost ({e.ReplyText}); reconnecting");
            connection.RecoverySucceededAsync += (_, _) => consumer.Note("reconnected; consuming again");
            connection.ConnectionRecoveryErrorAsync += (_, e) => consumer.Note($"reconnect failed ({e.Exception.Message}); retrying");

            // The prefetch window: at most this many unacked deliveries in flight to us.
            await channel.BasicQosAsync(0, options.Prefetch, global: false, cancellationToken);
            // Same arguments as the publisher's declaration, so whichever comes first creates it.
            await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            // Durable, not exclusive, not auto-delete: the queue and the persistent events in it outlive this process
            // and broker restarts, so nothing published while we are away is lost. (Production: consider a quorum queue,
            // arguments { ["x-queue-type"] = "quorum" }, replicated across a cluster's nodes.)
            await channel.QueueDeclareAsync(options.Queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
            foreach (var binding in options.Bindings)
                await channel.QueueBindAsync(options.Queue, Exchange, binding, cancellationToken: cancellationToken);

            var subscription = new AsyncEventingBasicConsumer(channel);
            subscription.ReceivedAsync += (_, delivery) => consumer.OnDeliveryAsync(handler, delivery);
            subscription.UnregisteredAsync += (_, _) =>
            {
                if (!consumer._stopping) consumer._completion.TrySetException(new InvalidOperationException($"the broker cancelled the subscription to {options.Queue} (was the queue deleted?)"));
                return Task.CompletedTask;
            };
            consumer._consumerTag = await channel.BasicConsumeAsync(options.Queue, autoAck: false, subscription, cancellationToken);
            await consumer.Note($"consuming queue {options.Queue} on {where}, bound to {Exchange} with {string.Join(", ", options.Bindings)}; prefetch {options.Prefetch}");
            return consumer;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // Automatic recovery starts only once a connection was made: until then, retry here (the broker may start after us).
    private static async Task<IConnection> ConnectAsync(ConnectionFactory factory, string where, TimeSpan retryInterval, TextWriter log, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await factory.CreateConnectionAsync(cancellationToken);
            }
            catch (BrokerUnreachableException e)
            {
                await log.WriteLineAsync($"broker unreachable at {where} ({e.GetBaseException().Message}); retrying in {retryInterval.TotalSeconds:0.#} s");
                await Task.Delay(retryInterval, cancellationToken);
            }
        }
    }

    private async Task OnDeliveryAsync(OrderEventHandler handler, BasicDeliverEventArgs delivery)
    {
        HandleResult result;
        try
        {
            result = handler.Handle(delivery.Body, delivery.BasicProperties.ContentType, delivery.Redelivered);
        }
        catch (Exception e)
        {
            // The effect failed (in a real consumer: its database is down, say). Give the event back to the queue, to be
            // delivered again; a production consumer would retry after a delay or dead-letter it after N attempts.
            await Note($"handling message {delivery.BasicProperties.MessageId} failed ({e.Message}); requeued");
            await SettleAsync(() => _channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true));
            return;
        }

        switch (result.Outcome)
        {
            case Outcome.Rejected:
                await Note($"rejected message {delivery.BasicProperties.MessageId}: not a readable CloudEvent ({result.Problem})");
                await SettleAsync(() => _channel.BasicRejectAsync(delivery.DeliveryTag, requeue: false));
                return;
            case Outcome.Duplicate:
                await Note($"duplicate {result.Event!.Id} ({result.Event.Type} order={result.Event.Subject} seq={result.Event[OrderEventHandler.SequenceAttribute]}) skipped");
                break;
        }
        // Ack only now, after handling: an event is off the queue once its effect is done (or known to be done already).
        await SettleAsync(() => _channel.BasicAckAsync(delivery.DeliveryTag, multiple: false));
    }

    private async Task SettleAsync(Func<ValueTask> settle)
    {
        try
        {
            await settle();
        }
        catch (AlreadyClosedException)
        {
            // The connection dropped between handling and acking: the broker redelivers the event, the dedupe skips it.
            await Note("connection closed before the ack; the broker will redeliver that event");
        }
    }

    private Task Note(string message) => _log.WriteLineAsync(message);

    /// <summary>Stops cleanly: cancel the subscription (no new deliveries), then close the channel and connection.
    /// Deliveries not acked yet go back to the queue for the next run.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        using var budget = new CancellationTokenSource(StopTimeout);
        try
        {
            if (_consumerTag is not null && _channel.IsOpen) await _channel.BasicCancelAsync(_consumerTag, cancellationToken: budget.Token);
            if (_channel.IsOpen) await _channel.CloseAsync(budget.Token);
            if (_connection.IsOpen) await _connection.CloseAsync(budget.Token);
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or IOException or OperationCanceledException)
        {
            // The broker is gone already, or too slow to answer: nothing left to close politely.
        }
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
        _completion.TrySetResult();
    }
}
