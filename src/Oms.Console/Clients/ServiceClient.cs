using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Oms.Console.Clients;

/// <summary>What the three typed clients share: JSON conventions, problem details, and a service that does not answer.</summary>
public abstract class ServiceClient(HttpClient http, ILogger logger)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // failures_by_reason is keyed by reason codes, which stay as sent.
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    protected abstract string ServiceName { get; }

    protected Task<ApiResult<T>> GetAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), ct);

    protected Task<ApiResult<T>> SendJsonAsync<T>(HttpMethod method, string path, object body, CancellationToken ct) =>
        SendAsync<T>(new HttpRequestMessage(method, path) { Content = JsonContent.Create(body, options: Json) }, ct);

    protected async Task<ApiResult<T>> SendAsync<T>(HttpRequestMessage request, CancellationToken ct)
    {
        try
        {
            using var response = await http.SendAsync(request, ct);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
                return new(await response.Content.ReadFromJsonAsync<T>(Json, ct), null, status);
            return new(default, await ReadProblemAsync(response, ct), status);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or TaskCanceledException
                                      or Polly.Timeout.TimeoutRejectedException or Polly.CircuitBreaker.BrokenCircuitException
                                      or JsonException)
        {
            logger.LogWarning(e, "The {Service} service did not answer {Method} {Path}", ServiceName, request.Method, request.RequestUri);
            var problem = new ApiProblem((int)HttpStatusCode.ServiceUnavailable, "service_unavailable",
                $"The {ServiceName} service is not answering right now; try again in a moment.", ApiProblem.NoErrors);
            return new(default, problem, problem.Status);
        }
    }

    private static async Task<ApiProblem> ReadProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var fallback = $"{status} {response.ReasonPhrase}";
        try
        {
            var body = await response.Content.ReadFromJsonAsync<ProblemBody>(Json, ct);
            if (body is not null)
                return new(status, body.Code ?? "", body.Detail ?? body.Title ?? fallback, body.Errors ?? ApiProblem.NoErrors);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            // Not problem+json (a proxy's error page, an empty 404): the status line is all there is.
        }
        return new(status, "", fallback, ApiProblem.NoErrors);
    }

    private sealed record ProblemBody(string? Title, string? Detail, string? Code, Dictionary<string, string[]>? Errors);
}
