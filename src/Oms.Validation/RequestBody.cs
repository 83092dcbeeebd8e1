using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Oms.Validation;

/// <summary>
/// Binds a request body to its record, the body's one description (OpenAPI shows the same record), and answers what the
/// contract wants for anything else: 415/413/400 <c>malformed_json</c> from <see cref="JsonBody.ReadObjectAsync"/>, then
/// 400 <c>validation_failed</c> with every broken field keyed by its JSON path (<c>quantity</c>, <c>items[2].quantity</c>).
/// </summary>
/// <remarks>
/// <para>To describe a new body: write a record whose properties are the fields, add it to the service's
/// <see cref="JsonSerializerContext"/> (snake_case names), put the rules on the properties as attributes with the
/// <c>property:</c> target, and read it with <c>RequestBody.ReadAsync(request, XJsonContext.Default.MyRequest, ct)</c>:</para>
/// <code>
/// public sealed record OrderLine([property: Sku] string ItemSku, [property: Between(1, 1_000_000)] int Quantity);
/// public sealed record CreateOrder([property: Length(1, 50, ErrorMessage = "must hold 1-50 lines.")] IReadOnlyList&lt;OrderLine&gt; Items,
///     [property: StringLength(200, ErrorMessage = "must be at most {1} characters.")] string? Note) : IValidatableObject { … }
/// </code>
/// <list type="bullet">
/// <item>A non-nullable property is required ("is required." when absent or null); a nullable one (<c>string?</c>, <c>int?</c>) is optional.</item>
/// <item>A value of the wrong JSON type is a field error ("must be an integer.": <c>"2"</c> and <c>1.5</c> are not integers).</item>
/// <item>Rules are <see cref="ValidationAttribute"/>s, judged on the value; <see cref="IJsonTextRule"/> attributes also judge the
/// number's text (<see cref="MoneyAttribute"/>). The first broken rule of a field is reported.</item>
/// <item>Nested records and lists of records are checked field by field; rules across fields (distinct SKUs) go in
/// <see cref="IValidatableObject.Validate"/> of the top-level record, run once every field is valid, with member names as JSON paths.</item>
/// <item>Unknown fields are ignored. UUIDs are read in any format <see cref="Guid.TryParse(string?, out Guid)"/> takes.</item>
/// <item>Do not put <see cref="JsonConverterAttribute"/> on a body's properties: rules belong in attributes.</item>
/// </list>
/// </remarks>
public static class RequestBody
{
    /// <summary>
    /// Reads the body described by <paramref name="description"/>. <paramref name="alsoCheck"/> adds rules that need more
    /// than the body (a route value, a header); it sees the value even when fields are broken, with those fields left at
    /// their defaults, so that every broken rule is reported at once.
    /// </summary>
    public static async Task<(T Value, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> description,
        CancellationToken cancellationToken, Action<T, FieldErrors>? alsoCheck = null)
    {
        var (document, problem) = await JsonBody.ReadObjectAsync(request, cancellationToken);
        if (problem is not null) return (default!, problem);
        using (document) return Bind(document!.RootElement, description, alsoCheck);
    }

    /// <summary>
    /// Like <see cref="ReadAsync{T}"/> for a body the request may leave out (no body, or Content-Length: 0): then it is
    /// read as <c>{}</c>, so the record's optional fields are null and a required one is still reported.
    /// </summary>
    public static async Task<(T Value, ProblemHttpResult? Problem)> ReadOptionalAsync<T>(HttpRequest request, JsonTypeInfo<T> description,
        CancellationToken cancellationToken, Action<T, FieldErrors>? alsoCheck = null)
    {
        var canHaveBody = request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        if (canHaveBody && request.ContentLength != 0) return await ReadAsync(request, description, cancellationToken, alsoCheck);
        using var empty = JsonDocument.Parse("{}"u8.ToArray());
        return Bind(empty.RootElement, description, alsoCheck);
    }

    private static (T Value, ProblemHttpResult? Problem) Bind<T>(JsonElement root, JsonTypeInfo<T> description, Action<T, FieldErrors>? alsoCheck)
    {
        var errors = new FieldErrors();
        var value = (T?)BodyShape.For(description).Bind(root, errors);
        if (value is not null) alsoCheck?.Invoke(value, errors);
        return errors.Count == 0 && value is not null ? (value, null) : (default!, errors.ToProblem());
    }
}
