using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Oms.Testing;

/// <summary>
/// A stand-in OpenTelemetry collector on a loopback port: keeps the raw body of every OTLP/HTTP export
/// (POST /v1/traces, /v1/metrics, /v1/logs) so a test can look for a service name or a trace id in it.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string Signal, byte[] Body)> _exports = new();

    public Uri Address { get; private set; } = null!;

    private OtlpCollector()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            _exports.Enqueue((signal, body.ToArray()));
            // An empty protobuf message is a valid Export*ServiceResponse: everything accepted.
            return Results.Bytes([], "application/x-protobuf");
        });
    }

    public static async Task<OtlpCollector> StartAsync()
    {
        var collector = new OtlpCollector();
        await collector._app.StartAsync();
        var address = collector._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        collector.Address = new Uri(address);
        return collector;
    }

    /// <summary>The bodies received so far for one signal ("traces", "metrics" or "logs").</summary>
    public IReadOnlyList<byte[]> Exports(string signal) => _exports.Where(e => e.Signal == signal).Select(e => e.Body).ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
