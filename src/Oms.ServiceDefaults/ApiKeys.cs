using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Oms.ServiceDefaults;

/// <summary>The scopes an API key can hold; each public endpoint requires one.</summary>
public static class Scopes
{
    public const string OrdersRead = "orders:read";
    public const string OrdersWrite = "orders:write";
    public const string StockRead = "stock:read";
    public const string StockWrite = "stock:write";
    public const string PaymentsRead = "payments:read";

    public static IReadOnlyList<string> All { get; } = [OrdersRead, OrdersWrite, StockRead, StockWrite, PaymentsRead];
}

/// <summary>
/// <c>Auth:ApiKeys</c>: the API keys that may call the public endpoints. Only a SHA-256 of each key is configured:
/// keys are long random secrets, so a fast hash cannot be brute-forced, and the configuration holds no usable secret.
/// </summary>
public sealed partial class AuthOptions : IValidatableObject
{
    public const string Section = "Auth";

    public List<ApiKeyEntry> ApiKeys { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var hashes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ApiKeys.Count; i++)
        {
            var key = ApiKeys[i];
            var at = $"{Section}:ApiKeys:{i}";
            if (!NamePattern().IsMatch(key.Name ?? ""))
                yield return new($"{at}:Name must be 1-64 characters of letters, digits, '.', '_' or '-'.");
            else if (!names.Add(key.Name!))
                yield return new($"{at}:Name '{key.Name}' is given twice.");
            // The hash is not echoed: it identifies a key.
            if (!HashPattern().IsMatch(key.Hash ?? ""))
                yield return new($"{at}:Hash must be 64 lowercase hex characters: the SHA-256 of the key (printf %s \"$key\" | sha256sum).");
            else if (!hashes.Add(key.Hash!))
                yield return new($"{at}:Hash is the same as another key's.");
            var scopes = key.ScopeList();
            if (scopes.Count == 0)
                yield return new($"{at}:Scopes is empty; give one or more of {string.Join(", ", Scopes.All)}.");
            foreach (var scope in scopes.Where(s => !Scopes.All.Contains(s)))
                yield return new($"{at}:Scopes: unknown scope '{scope}'; the scopes are {string.Join(", ", Scopes.All)}.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HashPattern();
}

public sealed class ApiKeyEntry
{
    /// <summary>Who the key belongs to; stored with the orders it places (idempotency keys are scoped by it).</summary>
    public string? Name { get; set; }

    /// <summary>Lowercase hex SHA-256 of the key's UTF-8 bytes.</summary>
    public string? Hash { get; set; }

    /// <summary>Scopes; an element may hold several separated by spaces or commas (handy in environment variables).</summary>
    public List<string> Scopes { get; set; } = [];

    internal List<string> ScopeList() =>
        [.. Scopes.SelectMany(s => s.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct()];
}

/// <summary>The scope a public endpoint requires (endpoint metadata read by <see cref="ApiKeyMiddleware"/>).</summary>
public sealed record RequiredScope(string Scope);

/// <summary>The configured keys, hashed bytes ready for comparison.</summary>
internal sealed class ApiKeyRegistry
{
    internal sealed record Key(string Name, byte[] Hash, HashSet<string> Scopes)
    {
        // One instance per key, set on each request it authenticates: no allocation per request.
        public ApiKeyFeature Feature { get; } = new(Name);
    }

    private readonly Key[] _keys;
    private readonly Key _warmupKey;
    private readonly WarmupCredential _warmup;

    public ApiKeyRegistry(IOptions<AuthOptions> options, WarmupCredential warmup)
    {
        _keys = [.. options.Value.ApiKeys.Select(k => new Key(k.Name!, Convert.FromHexString(k.Hash!), [.. k.ScopeList()]))];
        _warmup = warmup;
        _warmupKey = new Key(WarmupCredential.KeyName, SHA256.HashData(Encoding.UTF8.GetBytes(warmup.Secret)), [.. Scopes.All]);
    }

    /// <summary>Whether keys are configured (the warm-up's own key does not count: alone it would shut everyone out).</summary>
    public bool Enabled => _keys.Length > 0;

    /// <summary>The key whose hash matches the presented secret, or null.</summary>
    public Key? Find(ReadOnlySpan<char> secret)
    {
        if (secret.IsEmpty) return null;
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var maxBytes = Encoding.UTF8.GetMaxByteCount(secret.Length);
        Span<byte> bytes = maxBytes <= 512 ? stackalloc byte[maxBytes] : new byte[maxBytes];
        SHA256.HashData(bytes[..Encoding.UTF8.GetBytes(secret, bytes)], hash);
        // Every key compared in constant time, without stopping at a match: the time taken says nothing about the keys.
        Key? found = null;
        foreach (var key in _keys)
            if (CryptographicOperations.FixedTimeEquals(hash, key.Hash)) found = key;
        if (CryptographicOperations.FixedTimeEquals(hash, _warmupKey.Hash) && _warmup.Active) found = _warmupKey;
        return found;
    }
}

/// <summary>
/// Checks <c>Authorization: Bearer &lt;api key&gt;</c> on endpoints that carry a <see cref="RequiredScope"/>: none or
/// unknown → 401 <c>unauthorized</c>, a key without the scope → 403 <c>forbidden</c>. A middleware rather than an
/// endpoint filter so that the rate limiter, which runs after it, can count per API key.
/// Installed only when keys are configured.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeyRegistry registry)
{
    public const string Challenge = "Bearer realm=\"oms\"";

    public Task InvokeAsync(HttpContext context)
    {
        var required = context.GetEndpoint()?.Metadata.GetMetadata<RequiredScope>();
        if (required is null) return next(context);

        var key = registry.Find(BearerToken(context.Request.Headers.Authorization.ToString()));
        if (key is null)
        {
            context.Response.Headers.WWWAuthenticate = Challenge;
            return Problems.Create(StatusCodes.Status401Unauthorized, Problems.Unauthorized, "Unauthorized.",
                "This endpoint requires 'Authorization: Bearer <api key>' with a valid API key.").ExecuteAsync(context);
        }
        if (!key.Scopes.Contains(required.Scope))
            return Problems.Create(StatusCodes.Status403Forbidden, Problems.Forbidden, "Forbidden.",
                $"The API key '{key.Name}' lacks the scope '{required.Scope}'.").ExecuteAsync(context);

        context.Features.Set(key.Feature);
        return next(context);
    }

    private static ReadOnlySpan<char> BearerToken(string header)
    {
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header.AsSpan(scheme.Length).Trim() : default;
    }
}

/// <summary>The API key that authenticated the request.</summary>
public sealed record ApiKeyFeature(string Name);

public static class ApiKeyExtensions
{
    /// <summary>
    /// A public endpoint: callers need an API key with <paramref name="scope"/> when keys are configured, and it is
    /// rate limited when a limit is configured.
    /// </summary>
    public static RouteHandlerBuilder RequireApiKey(this RouteHandlerBuilder builder, string scope)
    {
        if (!Scopes.All.Contains(scope)) throw new ArgumentException($"Unknown scope '{scope}'.", nameof(scope));
        return builder.WithMetadata(new RequiredScope(scope))
            .RequireRateLimiting(RateLimits.PublicPolicy)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
    }

    private const string DocsScheme = "apiKey";

    /// <summary>The OpenAPI document names the bearer scheme and each public operation's scope (Swagger UI's Authorize button).</summary>
    internal static void DescribeApiKeys(this Microsoft.AspNetCore.OpenApi.OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[DocsScheme] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key (Auth:ApiKeys), needed once any key is configured; the operation's scope is listed with it.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RequiredScope>().FirstOrDefault() is { } scope)
            {
                operation.Security ??= [];
                operation.Security.Add(new Microsoft.OpenApi.OpenApiSecurityRequirement
                {
                    [new Microsoft.OpenApi.OpenApiSecuritySchemeReference(DocsScheme, context.Document)] = [scope.Scope],
                });
            }
            return Task.CompletedTask;
        });
    }

    /// <summary>The name of the API key that authenticated the request; "" when the endpoints are open.</summary>
    public static string ApiKeyName(this HttpContext context) => context.Features.Get<ApiKeyFeature>()?.Name ?? "";
}
