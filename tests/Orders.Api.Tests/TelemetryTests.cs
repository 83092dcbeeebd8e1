using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Oms.Testing;

namespace Orders.Api.Tests;

/// <summary>
/// With an OTLP endpoint set, the services export traces, pass the trace context on, and sample by the caller's
/// decision (parent-based). The three services share this test's process, so every service's exporter sees every
/// service's spans: the collector proves export and sampling, the proxy in front of inventory proves propagation.
/// </summary>
public sealed class TelemetryTests(PostgresServer pg) : IAsyncLifetime
{
    private OtlpCollector _collector = null!;
    private OmsSystem _system = null!;

    public async ValueTask InitializeAsync()
    {
        _collector = await OtlpCollector.StartAsync();
        _system = await OmsSystem.StartAsync(pg, proxyInventory: true, everyServiceSettings: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Address.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            // Nothing is sampled on its own: only a caller that sampled its trace gets one.
            ["Telemetry:TraceSampleRatio"] = "0",
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _system.DisposeAsync();
        await _collector.DisposeAsync();
    }

    [Fact]
    public async Task TracesFollowTheCallersSamplingDecisionAcrossTheServicesAndReachTheCollector()
    {
        var ct = TestContext.Current.CancellationToken;
        await _system.ReceiveStockAsync("TRACE-1", 5);
        var sampled = ActivityTraceId.CreateRandom();
        var unsampled = ActivityTraceId.CreateRandom();

        Assert.Equal(HttpStatusCode.Created, await PlaceAsync("trace-key-1", sampled, "01", ct));
        Assert.Equal(HttpStatusCode.Created, await PlaceAsync("trace-key-2", unsampled, "00", ct));

        // Propagation: the order service's reserve call carried each order's trace id and sampling decision.
        var seen = _system.InventoryProxy!.TraceParents;
        Assert.Contains(seen, tp => tp.StartsWith($"00-{sampled.ToHexString()}-", StringComparison.Ordinal) && tp.EndsWith("-01", StringComparison.Ordinal));
        Assert.Contains(seen, tp => tp.StartsWith($"00-{unsampled.ToHexString()}-", StringComparison.Ordinal) && tp.EndsWith("-00", StringComparison.Ordinal));

        // Export: spans of the sampled order reach the collector from each service's exporter (named in its resource).
        string[] services = ["Orders.Api", "Inventory.Api", "Payments.Api"];
        await Eventually.UntilAsync(() => Task.FromResult(services.All(s => ExportedBy(s, sampled))), TimeSpan.FromSeconds(60),
            "every service to export a span of the sampled order");
        // The sampled trace has the database statements in it (Npgsql's spans carry the SQL).
        Assert.Contains(_collector.Exports("traces"), body => Contains(body, TraceIdBytes(sampled)) && Contains(body, "INSERT INTO orders"u8.ToArray()));

        // Sampling: nothing of the unsampled order. A sampled order placed after it is exported by every service, and
        // exporters send spans in the order they end, so any span of the unsampled order would have arrived by then.
        var later = ActivityTraceId.CreateRandom();
        Assert.Equal(HttpStatusCode.Created, await PlaceAsync("trace-key-3", later, "01", ct));
        await Eventually.UntilAsync(() => Task.FromResult(services.All(s => ExportedBy(s, later))), TimeSpan.FromSeconds(60),
            "every service to export the later sampled order");
        Assert.DoesNotContain(_collector.Exports("traces"), body => Contains(body, TraceIdBytes(unsampled)));
    }

    private async Task<HttpStatusCode> PlaceAsync(string key, ActivityTraceId traceId, string flags, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/orders")
        {
            Content = JsonContent.Create(new { item_sku = "TRACE-1", quantity = 1, amount = 10m, idempotency_key = key }),
        };
        request.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-{flags}");
        // Our own traceparent, as an instrumented caller would send it: this process's HttpClient would replace it.
        using var http = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = _system.Orders.BaseAddress };
        using var response = await http.SendAsync(request, ct);
        return response.StatusCode;
    }

    private bool ExportedBy(string service, ActivityTraceId traceId)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(service);
        var id = TraceIdBytes(traceId);
        return _collector.Exports("traces").Any(body => Contains(body, name) && Contains(body, id));
    }

    private static byte[] TraceIdBytes(ActivityTraceId traceId)
    {
        var bytes = new byte[16];
        traceId.CopyTo(bytes);
        return bytes;
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
