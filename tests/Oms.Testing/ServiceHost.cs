using Microsoft.AspNetCore.Hosting;
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

    public ServiceHost(IDictionary<string, string?> settings)
    {
        _settings = new Dictionary<string, string?>(settings) { ["OMS_SERVICE_TOKEN"] = Token };
        UseKestrel(0);
    }

    /// <summary>Starts the server and returns its base address (http://127.0.0.1:port/).</summary>
    public Uri Start()
    {
        StartServer();
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
    }
}
