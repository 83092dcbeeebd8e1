using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Oms.Testing;

/// <summary>
/// The tests' one set of HTTP helpers: raw JSON bodies in (so a test controls every byte it sends), status and
/// JSON or problem+json out. The service test fixtures forward to these.
/// </summary>
public static class TestHttp
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A raw JSON body sent as application/json.</summary>
    public static StringContent Json(string raw) => new(raw, Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string raw) =>
        client.PostAsync(path, Json(raw), Ct);

    public static Task<HttpResponseMessage> PutJsonAsync(this HttpClient client, string path, string raw) =>
        client.PutAsync(path, Json(raw), Ct);

    /// <summary>
    /// Posts a body over the limit with its Content-Length and <c>Expect: 100-continue</c>, as careful clients do:
    /// the server answers 413 from the headers alone. Without the Expect header the client may still be sending
    /// when the server answers and closes, and then sees a connection reset instead of the 413 (a TCP race).
    /// </summary>
    public static async Task<HttpResponseMessage> PostOversizedAsync(this HttpClient client, string path, string raw)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(raw) };
        request.Headers.ExpectContinue = true;
        return await client.SendAsync(request, Ct);
    }

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public static async Task<JsonObject> ReadJsonObjectAsync(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    /// <summary>Asserts the status (and the media type, when given) and returns the JSON body.</summary>
    public static async Task<JsonElement> ExpectAsync(this HttpResponseMessage response, HttpStatusCode status, string? mediaType = null)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        if (mediaType is not null) Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary><see cref="ExpectAsync(HttpResponseMessage, HttpStatusCode, string?)"/> on a pending call, disposing its response.</summary>
    public static async Task<JsonElement> ExpectAsync(this Task<HttpResponseMessage> call, HttpStatusCode status, string? mediaType = null)
    {
        using var response = await call;
        return await response.ExpectAsync(status, mediaType);
    }

    /// <summary>Asserts an RFC 9457 problem with the given status and code; returns it.</summary>
    public static Task<JsonElement> ExpectProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string code) =>
        ProblemAssert.IsProblemAsync(response, status, code);

    public static async Task<JsonElement> ExpectProblemAsync(this Task<HttpResponseMessage> call, HttpStatusCode status, string code)
    {
        using var response = await call;
        return await response.ExpectProblemAsync(status, code);
    }

    /// <summary>A 400 validation_failed whose errors name the given field.</summary>
    public static async Task<JsonElement> ExpectInvalidAsync(this Task<HttpResponseMessage> call, string field)
    {
        var problem = await call.ExpectProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"errors should name '{field}': {problem}");
        Assert.True(messages.GetArrayLength() > 0);
        return problem;
    }
}
