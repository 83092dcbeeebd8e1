using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Oms.Testing;

/// <summary>
/// One of our services running on real Kestrel on a free loopback port, configured by plain settings
/// (connection strings, token, downstream URLs), so tests talk to it over real HTTP.
/// </summary>
public sealed class ServiceHost<TEntryPoint> : WebApplicationFactory<TEntryPoint> where TEntryPoint : class
{
    public const string Token = "test-service-token-0123456789";
    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IWebHostBuilder>? _configure;

    /// <param name="configure">More host configuration, e.g. a logger provider that captures what the service logs.</param>
    public ServiceHost(IDictionary<string, string?> settings, Action<IWebHostBuilder>? configure = null)
    {
        _configure = configure;
        // No internal (h2c) endpoint unless a test asks for one: appsettings.json's fixed port would collide.
        // No warm-up unless a test asks for one: tests expect a service ready as soon as it listens.
        _settings = new Dictionary<string, string?> { ["InternalUrls"] = "", ["Warmup:Enabled"] = "false" };
        foreach (var (key, value) in settings) _settings[key] = value;
        _settings["OMS_SERVICE_TOKEN"] = Token;
        if (_settings["InternalUrls"] is { Length: > 0 })
        {
            // The service binds both endpoints itself (InternalEndpoints); a fixed factory port would override them.
            _settings["urls"] = "http://127.0.0.1:0";
            UseKestrel();
        }
        else
        {
            UseKestrel(0);
        }
    }

    /// <summary>Starts the server and returns its public base address (http://127.0.0.1:port/).</summary>
    public Uri Start()
    {
        StartServer();
        // With an internal (HTTP/2-only) endpoint the server has two addresses; the factory takes the last one.
        if (_settings.GetValueOrDefault("InternalUrls") is { Length: > 0 } internalUrls)
        {
            var internalPort = new Uri(internalUrls).Port;
            var addresses = Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            ClientOptions.BaseAddress = new Uri(addresses.Select(a => new Uri(a)).First(a => a.Port != internalPort), "/");
        }
        return ClientOptions.BaseAddress;
    }

    /// <summary>A client for the internal endpoints, carrying the service token.</summary>
    public HttpClient CreateInternalClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", Token);
        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings) builder.UseSetting(key, value);
        _configure?.Invoke(builder);
    }
}
