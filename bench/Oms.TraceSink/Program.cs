// A stand-in for an OpenTelemetry collector during benchmarks, so the services can run with tracing on when no
// collector is on the box: it accepts OTLP/HTTP exports (POST /v1/traces, /v1/metrics, /v1/logs), discards them
// and counts what arrived. GET /stats shows the counts, so a benchmark can show its traces were really exported.
//
//   dotnet bench/Oms.TraceSink/bin/Release/net10.0/Oms.TraceSink.dll --urls http://127.0.0.1:18317
//   services: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:18317 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
using System.Buffers;
using System.Collections.Concurrent;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var app = builder.Build();

var received = new ConcurrentDictionary<string, Counts>();

app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
{
    var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    long bytes = 0;
    int read;
    while ((read = await request.Body.ReadAsync(buffer)) > 0) bytes += read;
    ArrayPool<byte>.Shared.Return(buffer);
    received.GetOrAdd(signal, _ => new Counts()).Add(bytes);
    // An empty protobuf message is a valid Export*ServiceResponse: everything accepted.
    return Results.Bytes([], "application/x-protobuf");
});

app.MapGet("/stats", () => string.Join('\n', received.OrderBy(kv => kv.Key)
    .Select(kv => $"{kv.Key} exports {kv.Value.Exports} bytes {kv.Value.Bytes}")) + "\n");

app.Run();

internal sealed class Counts
{
    private long _exports, _bytes;
    public long Exports => Interlocked.Read(ref _exports);
    public long Bytes => Interlocked.Read(ref _bytes);

    public void Add(long bytes)
    {
        Interlocked.Increment(ref _exports);
        Interlocked.Add(ref _bytes, bytes);
    }
}
