using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Oms.ServiceDefaults;

/// <summary><c>RateLimit</c>: requests per second to the public endpoints, per API key (per client address when open). Off unless set.</summary>
public sealed class RateLimitOptions : IValidatableObject
{
    public const string Section = "RateLimit";

    /// <summary>Sustained requests per second per caller; null = no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? PermitsPerSecond { get; set; }

    /// <summary>Requests a caller may make at once after being idle; default <see cref="PermitsPerSecond"/>.</summary>
    [Range(1, int.MaxValue)]
    public int? Burst { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // A burst alone would look like a limit and be none.
        if (Burst is not null && PermitsPerSecond is null)
            yield return new($"{Section}:Burst is set without {Section}:PermitsPerSecond; set both, or neither for no limit.");
    }
}

public static class RateLimits
{
    /// <summary>The policy every public endpoint carries (<see cref="ApiKeyExtensions.RequireApiKey"/>).</summary>
    public const string PublicPolicy = "public";
}

/// <summary>
/// A token bucket per caller: the API key's name when the request was authenticated, else the client's address.
/// Rejected requests get 429 <c>rate_limited</c> with <c>Retry-After</c>, never a queue.
/// </summary>
internal sealed class PublicRateLimitPolicy(IOptions<RateLimitOptions> options) : IRateLimiterPolicy<(string? ApiKey, IPAddress? Address)>
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    private readonly TokenBucketRateLimiterOptions _bucket = new()
    {
        TokensPerPeriod = options.Value.PermitsPerSecond ?? int.MaxValue,
        TokenLimit = options.Value.Burst ?? options.Value.PermitsPerSecond ?? int.MaxValue,
        ReplenishmentPeriod = Period,
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    private Func<(string?, IPAddress?), TokenBucketRateLimiterOptions>? _bucketFactory;

    public RateLimitPartition<(string? ApiKey, IPAddress? Address)> GetPartition(HttpContext httpContext)
    {
        var key = httpContext.Features.Get<ApiKeyFeature>()?.Name;
        return RateLimitPartition.GetTokenBucketLimiter(
            key is not null ? (key, null) : (null, httpContext.Connection.RemoteIpAddress), _bucketFactory ??= _ => _bucket);
    }

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = static async (context, _) =>
    {
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : Period;
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await Problems.Create(StatusCodes.Status429TooManyRequests, Problems.RateLimited, "Too many requests.",
            $"The rate limit of this caller is used up; retry in {seconds} s.").ExecuteAsync(context.HttpContext);
    };
}
