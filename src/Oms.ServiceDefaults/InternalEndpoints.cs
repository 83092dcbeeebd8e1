using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace Oms.ServiceDefaults;

/// <summary>
/// The service-to-service endpoint: <c>InternalUrls</c> (e.g. <c>http://localhost:9002</c>) speaks HTTP/2 cleartext
/// with prior knowledge, so the order service multiplexes all its calls over one connection instead of one socket per
/// request in flight (measured in docs/benchmarks.md). Kestrel answers h2c only on an HTTP/2-only endpoint — a
/// cleartext Http1AndHttp2 endpoint stays HTTP/1.1 — so it is a second endpoint beside the public HTTP/1.1 one.
/// </summary>
internal static class InternalEndpoints
{
    public const string ConfigurationKey = "InternalUrls";

    /// <summary>
    /// Binds the internal h2c endpoint(s) and, because an endpoint bound in code makes Kestrel ignore
    /// <c>urls</c>, the public ones again: <c>urls</c> (ASPNETCORE_URLS), else <c>http_ports</c>, else
    /// <c>DefaultUrls</c>. Endpoints under <c>Kestrel:Endpoints</c> are bound by Kestrel itself as usual.
    /// </summary>
    public static void Configure(KestrelServerOptions kestrel, IConfiguration configuration)
    {
        var internalUrls = Split(configuration[ConfigurationKey]);
        if (internalUrls.Length == 0) return;

        if (!configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            var publicUrls = Split(configuration["urls"]);
            if (publicUrls.Length == 0)
                publicUrls = Split(configuration["http_ports"]).Select(port => $"http://*:{port}").ToArray();
            if (publicUrls.Length == 0) publicUrls = Split(configuration["DefaultUrls"]);
            // HTTP/1.1, which is what a cleartext Http1AndHttp2 endpoint speaks anyway (without Kestrel's warning about it).
            foreach (var url in publicUrls) Listen(kestrel, url, HttpProtocols.Http1);
        }
        foreach (var url in internalUrls) Listen(kestrel, url, HttpProtocols.Http2);
    }

    private static string[] Split(string? urls) =>
        (urls ?? "").Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols)
    {
        var address = BindingAddress.Parse(url);
        if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"'{url}': only http:// URLs can be bound here (TLS is terminated in front of the services).");
        void Protocols(ListenOptions listen) => listen.Protocols = protocols;
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            kestrel.ListenLocalhost(address.Port, Protocols);
        else if (IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip))
            kestrel.Listen(ip, address.Port, Protocols);
        else
            kestrel.ListenAnyIP(address.Port, Protocols); // *, + or a host name: all interfaces, as Kestrel does for urls
    }
}
