#:package RabbitMQ.Client
// The CPU cost of publishing one event with confirms, in the client and in the broker (docs/benchmarks.md, sitting 18).
// Publishes batches of a CloudEvent-sized body to the topic exchange oms.events (no queue bound), as the relay does, in
// one of three ways, after a warm-up, and divides this process's CPU time and the broker's (from /proc) by the count:
//   track   confirms awaited per publish with the client's tracking (publisherConfirmationTrackingEnabled)
//   window  confirms gathered per batch by delivery tag from the ack events (what EventPublisher does)
//   cork    window, with the socket corked (Linux TCP_CORK) while a batch is handed to the client, so the kernel sends
//           full segments instead of one per message (not what EventPublisher does: a measure of the client's send cost)
//   none    no confirms at all (the floor)
// Usage (a broker from bench/run-system.sh):
//   OMS_EVENTS=1 bench/run-system.sh broker-start
//   dotnet run bench/publish-cost/publish-cost.cs -c Release -- amqp://guest:guest@127.0.0.1:18672/ "$(cat .data/bench/rabbitmq/node.pid)" window
// Optional: messages (default 100000), batch (default 1000).
using System.Diagnostics;
using RabbitMQ.Client;

var (uri, brokerPid, mode) = (args[0], int.Parse(args[1]), args[2]);
var total = args.Length > 3 ? int.Parse(args[3]) : 100_000;
var batch = args.Length > 4 ? int.Parse(args[4]) : 1_000;
if (mode is not ("track" or "window" or "cork" or "none")) throw new ArgumentException("mode: track | window | cork | none");

System.Net.Sockets.Socket? socket = null;
var factory = new ConnectionFactory { Uri = new Uri(uri), AutomaticRecoveryEnabled = false };
factory.SocketFactory = family => { var client = ConnectionFactory.DefaultSocketFactory(family); socket = client.Client; return client; };
await using var connection = await factory.CreateConnectionAsync();
const int IpProtoTcp = 6, TcpCork = 3; // <netinet/tcp.h>
void Cork(bool on) { if (mode == "cork") socket!.SetRawSocketOption(IpProtoTcp, TcpCork, BitConverter.GetBytes(on ? 1 : 0)); }
await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
    publisherConfirmationsEnabled: mode != "none", publisherConfirmationTrackingEnabled: mode == "track",
    outstandingPublisherConfirmationsRateLimiter: null));
await channel.ExchangeDeclareAsync("oms.events", ExchangeType.Topic, durable: true);
var body = new byte[560]; // about a CloudEvent of the relay's
Array.Fill(body, (byte)'x');

// The highest delivery tag acked so far, and a waiter for the batch's last one (window mode).
var gate = new object();
ulong acked = 0, awaited = 0;
TaskCompletionSource? waiter = null;
channel.BasicAcksAsync += (_, e) =>
{
    lock (gate)
    {
        acked = Math.Max(acked, e.DeliveryTag);
        if (waiter is not null && acked >= awaited) { waiter.TrySetResult(); waiter = null; }
    }
    return Task.CompletedTask;
};

BasicProperties Properties() => new() { Persistent = true, MessageId = Guid.NewGuid().ToString(), ContentType = "application/cloudevents+json; charset=utf-8", Type = "order.confirmed" };

async Task PublishAsync(int count)
{
    for (var done = 0; done < count; done += batch)
    {
        if (mode == "track")
        {
            var publishes = new Task[batch];
            for (var i = 0; i < batch; i++) publishes[i] = channel.BasicPublishAsync("oms.events", "order.confirmed", false, Properties(), body).AsTask();
            await Task.WhenAll(publishes);
            continue;
        }
        var last = await channel.GetNextPublishSequenceNumberAsync() + (ulong)batch - 1;
        Cork(true);
        for (var i = 0; i < batch; i++) await channel.BasicPublishAsync("oms.events", "order.confirmed", false, Properties(), body);
        Cork(false);
        if (mode == "none") continue;
        Task wait;
        lock (gate)
        {
            awaited = last;
            if (acked >= last) wait = Task.CompletedTask;
            else wait = (waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        await wait;
    }
}

long BrokerTicks()
{
    var fields = File.ReadAllText($"/proc/{brokerPid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return long.Parse(fields[11]) + long.Parse(fields[12]); // utime + stime, in clock ticks (1/100 s)
}

await PublishAsync(20_000); // warm-up: JIT, buffers
var (broker0, client0, clock) = (BrokerTicks(), Process.GetCurrentProcess().TotalProcessorTime, Stopwatch.StartNew());
await PublishAsync(total);
var (elapsed, client1, broker1) = (clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime, BrokerTicks());
Console.WriteLine($"{mode,-6} {total} messages in batches of {batch}: {total / elapsed.TotalSeconds:F0} msg/s; " +
    $"CPU per message: client {(client1 - client0).TotalMicroseconds / total:F1} us, broker {(broker1 - broker0) * 10_000.0 / total:F1} us");
