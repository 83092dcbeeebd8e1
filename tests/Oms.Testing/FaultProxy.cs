using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Oms.Testing;

public enum FaultMode
{
    /// <summary>Pass requests through unchanged.</summary>
    Forward,
    /// <summary>Answer 503 without forwarding (the dependency is down behind a load balancer).</summary>
    ServiceUnavailable,
    /// <summary>Forward, let the dependency do the work, then answer 503 (its answer is lost on the way back).</summary>
    ForwardThenFail,
    /// <summary>Wait <see cref="FaultProxy.Delay"/>, then forward.</summary>
    Delay,
    /// <summary>Forward, then hold the answer for <see cref="FaultProxy.Delay"/> (the caller times out after the work was done).</summary>
    ForwardThenDelay,
    /// <summary>Hold the request until <see cref="FaultProxy.Release"/>, then forward it.</summary>
    Hold,
    /// <summary>Answer <see cref="FaultProxy.AnswerStatus"/> with a problem+json of <see cref="FaultProxy.AnswerCode"/>, without forwarding.</summary>
    Answer,
}

/// <summary>
/// A real HTTP reverse proxy on a loopback port that can inject faults between two of our services.
/// The services still talk real HTTP; the proxy only decides what happens on the wire.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private int _requests;

    private int _faultsRemaining = int.MaxValue;

    public FaultMode Mode { get; set; } = FaultMode.Forward;

    /// <summary>Applies <see cref="Mode"/> to the next <paramref name="count"/> requests only, then forwards.</summary>
    public void FaultNext(FaultMode mode, int count)
    {
        Volatile.Write(ref _faultsRemaining, count);
        Mode = mode;
    }
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(1);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Lets every request held by <see cref="FaultMode.Hold"/> go on.</summary>
    public void Release() => _released.TrySetResult();

    public int AnswerStatus { get; set; } = StatusCodes.Status404NotFound;
    public string AnswerCode { get; set; } = "not_found";
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests received and not yet answered (a delayed request still on its way).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);
    private int _inFlight;

    /// <summary>The W3C traceparent header of every request that reached the proxy, in arrival order.</summary>
    public IReadOnlyCollection<string> TraceParents => _traceParents;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _traceParents = new();
    public Uri Address { get; private set; } = null!;

    private FaultProxy(Uri target)
    {
        _upstream = new HttpClient { BaseAddress = target, Timeout = TimeSpan.FromSeconds(60) };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public static async Task<FaultProxy> StartAsync(Uri target)
    {
        var proxy = new FaultProxy(target);
        await proxy._app.StartAsync();
        var address = proxy._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.Address = new Uri(address);
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _inFlight);
        try { await ProxyAsync(context); }
        finally { Interlocked.Decrement(ref _inFlight); }
    }

    private async Task ProxyAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        if (context.Request.Headers.TryGetValue("traceparent", out var traceParent)) _traceParents.Enqueue(traceParent.ToString());
        var mode = Interlocked.Decrement(ref _faultsRemaining) >= 0 ? Mode : FaultMode.Forward;
        if (mode == FaultMode.ServiceUnavailable)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        if (mode == FaultMode.Answer)
        {
            context.Response.StatusCode = AnswerStatus;
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsync($$"""{"status":{{AnswerStatus}},"title":"Injected.","code":"{{AnswerCode}}"}""", CancellationToken.None);
            return;
        }
        // Not cancelled with the caller: a delayed request still arrives late, after the caller gave up.
        if (mode == FaultMode.Delay) await Task.Delay(Delay, CancellationToken.None);
        if (mode == FaultMode.Hold) await _released.Task;

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, CancellationToken.None);
        request.Content = new ByteArrayContent(body.ToArray());
        if (context.Request.ContentType is { } contentType) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        if (context.Request.Headers.Authorization is { Count: > 0 } auth) request.Headers.TryAddWithoutValidation("Authorization", auth.ToString());

        // The upstream call is not tied to the caller: it completes even if the caller gives up, as a real network would.
        using var response = await _upstream.SendAsync(request, CancellationToken.None);
        var payload = await response.Content.ReadAsByteArrayAsync(CancellationToken.None);

        if (mode == FaultMode.ForwardThenFail)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        if (mode == FaultMode.ForwardThenDelay) await Task.Delay(Delay, context.RequestAborted);

        context.Response.StatusCode = (int)response.StatusCode;
        if (response.Content.Headers.ContentType is { } type) context.Response.ContentType = type.ToString();
        await context.Response.Body.WriteAsync(payload, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
