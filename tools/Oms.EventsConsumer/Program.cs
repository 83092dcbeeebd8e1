using System.Runtime.InteropServices;
using Oms.EventsConsumer;

// dotnet run --project tools/Oms.EventsConsumer -- [--uri amqp://user:pass@host:5672] [--queue name] [--binding key]...
// Prints every order event (one line each) until Ctrl+C / SIGTERM. See README.md next to this file.
if (!ConsumerOptions.TryParse(args, Environment.GetEnvironmentVariable, out var options, out var error))
{
    if (error is not null) Console.Error.WriteLine(error);
    Console.Error.WriteLine(ConsumerOptions.Usage);
    return error is null ? 0 : 2;
}

using var stop = new CancellationTokenSource();
// Ctrl+C and `docker stop`/systemd (SIGTERM) both end it cleanly: cancel the consumer, close the channel, exit 0.
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
void Stop(PosixSignalContext context) { context.Cancel = true; stop.Cancel(); }

var handler = new OrderEventHandler(Console.Out, options.DedupeCapacity);
EventsConsumer? consumer = null;
try
{
    consumer = await EventsConsumer.StartAsync(options, handler, Console.Error, stop.Token);
    await consumer.Completion.WaitAsync(stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
finally
{
    // The clean stop is bounded (EventsConsumer.StopTimeout per step): the process ends next, and its connection with it.
    if (consumer is not null)
        try { await consumer.DisposeAsync().AsTask().WaitAsync(2 * EventsConsumer.StopTimeout); }
        catch (TimeoutException) { Console.Error.WriteLine("the broker did not let go in time; the connection is dropped"); }
}
Console.Error.WriteLine($"stopped: {handler.Handled} events handled, {handler.Duplicates} duplicates skipped, {handler.Rejected} rejected");
return 0;
