using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Oms.ServiceDefaults;

/// <summary>The shared secret that internal endpoints require (<c>OMS_SERVICE_TOKEN</c>).</summary>
public sealed class ServiceTokenOptions
{
    public const string ConfigurationKey = "OMS_SERVICE_TOKEN";

    [Required(ErrorMessage = "OMS_SERVICE_TOKEN must be set: internal endpoints need the service token.")]
    public string Token { get; set; } = "";
}

/// <summary>Marks an endpoint that takes the service token (and no API key).</summary>
public sealed class InternalEndpoint
{
    public static InternalEndpoint Instance { get; } = new();
    private InternalEndpoint() { }
}

public static class ServiceTokenExtensions
{
    /// <summary>Answers 401 <c>unauthorized</c> unless the request carries <c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    public static TBuilder RequireServiceToken<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(InternalEndpoint.Instance).AddEndpointFilter(static (context, next) =>
        {
            var http = context.HttpContext;
            var expected = http.RequestServices.GetRequiredService<IOptions<ServiceTokenOptions>>().Value.Token;
            return IsAuthorized(http.Request.Headers.Authorization.ToString(), expected)
                ? next(context)
                : ValueTask.FromResult<object?>(Problems.Create(StatusCodes.Status401Unauthorized, Problems.Unauthorized,
                    "Unauthorized.", "This internal endpoint requires 'Authorization: Bearer <service token>'."));
        });

    private static bool IsAuthorized(string header, string expected)
    {
        const string scheme = "Bearer ";
        if (expected.Length == 0 || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        // Constant-time comparison so the token cannot be guessed byte by byte from timings.
        return CryptographicOperations.FixedTimeEquals(
            Encoding.UTF8.GetBytes(header.AsSpan(scheme.Length).Trim().ToString()), Encoding.UTF8.GetBytes(expected));
    }
}
