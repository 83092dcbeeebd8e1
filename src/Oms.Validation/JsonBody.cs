using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Oms.ServiceDefaults;

namespace Oms.Validation;

/// <summary>
/// Reads a request body the way the contract wants it: 415 unless JSON, 413 over 64 KiB,
/// 400 <c>malformed_json</c> unless a JSON object. Field types are checked afterwards by
/// <see cref="RequestBody"/>, so a wrong type is a validation error rather than malformed JSON.
/// </summary>
public static class JsonBody
{
    public const int MaxBytes = ServiceDefaultsExtensions.MaxRequestBodyBytes;
    private const int DrainLimitBytes = 1024 * 1024;

    public static async Task<(JsonDocument? Document, ProblemHttpResult? Problem)> ReadObjectAsync(
        HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
            return (null, Problems.Create(StatusCodes.Status415UnsupportedMediaType, Problems.UnsupportedMediaType,
                "Unsupported media type.", "The request body must be application/json."));

        if (request.ContentLength > MaxBytes)
        {
            // Read (and drop) a moderately oversized body before answering: a server that answers while the
            // client is still sending makes many clients see a connection reset instead of the 413.
            if (request.ContentLength <= DrainLimitBytes
                && request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = DrainLimitBytes;
                await request.Body.CopyToAsync(Stream.Null, cancellationToken);
            }
            return (null, TooLarge());
        }

        byte[] buffer;
        try
        {
            using var memory = new MemoryStream(request.ContentLength is > 0 and var n ? (int)n : 256);
            var chunk = new byte[8192];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (memory.Length + read > MaxBytes) return (null, TooLarge());
                memory.Write(chunk, 0, read);
            }
            buffer = memory.ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        // The parser accepts invalid UTF-8 and escapes that are not valid UTF-16 ("\ud800"); reading such a string
        // later throws. Refuse them here, so every field reader may assume its strings decode.
        if (!System.Text.Unicode.Utf8.IsValid(buffer))
            return (null, Malformed("The request body is not valid UTF-8."));
        try
        {
            var document = JsonDocument.Parse(buffer, new JsonDocumentOptions { MaxDepth = 32 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                return (null, Malformed("The request body must be a JSON object."));
            }
            if (buffer.AsSpan().IndexOf("\\u"u8) >= 0 && !DecodesAsUtf16(document.RootElement))
            {
                document.Dispose();
                return (null, Malformed("The request body has a \\u escape that is not valid UTF-16 (a lone surrogate)."));
            }
            return (document, null);
        }
        catch (JsonException)
        {
            return (null, Malformed("The request body is not valid JSON."));
        }
    }

    /// <summary>Whether every property name and string in <paramref name="element"/> decodes (no lone surrogate escapes).</summary>
    private static bool DecodesAsUtf16(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                        if (property.Name is null || !DecodesAsUtf16(property.Value)) return false;
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                        if (!DecodesAsUtf16(item)) return false;
                    return true;
                case JsonValueKind.String:
                    return element.GetString() is not null;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static ProblemHttpResult TooLarge() =>
        Problems.Create(StatusCodes.Status413PayloadTooLarge, Problems.PayloadTooLarge,
            "Payload too large.", $"The request body must be at most {MaxBytes} bytes.");

    private static ProblemHttpResult Malformed(string detail) =>
        Problems.Create(StatusCodes.Status400BadRequest, Problems.MalformedJson, "Malformed JSON.", detail);
}

/// <summary>Field rules from the contract, shared by body and query validation.</summary>
public static class Rules
{
    public const string SkuRule = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.";
    public const string KeyRule = "must be 1-255 printable ASCII characters.";

    public static bool IsValidSku(string? sku)
    {
        if (string.IsNullOrEmpty(sku) || sku.Length > 64) return false;
        foreach (var c in sku)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }

    public static bool IsValidIdempotencyKey(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 255) return false;
        foreach (var c in key)
            if (c < 0x20 || c > 0x7E) return false;
        return true;
    }

    /// <summary>Decimal places of a JSON number's text once trailing zeros are dropped: "1.50" → 1, "15e-3" → 3, "1e2" → 0.</summary>
    public static long DecimalPlaces(ReadOnlySpan<char> number)
    {
        var exponent = 0L;
        var e = number.IndexOfAny('e', 'E');
        if (e >= 0)
        {
            // A JSON exponent too long for a long is far outside any range we accept either way.
            if (!long.TryParse(number[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
                return number[e + 1] == '-' ? long.MaxValue : 0;
            exponent = Math.Clamp(exponent, -1_000_000, 1_000_000);
            number = number[..e];
        }
        var dot = number.IndexOf('.');
        var fraction = dot >= 0 ? number[(dot + 1)..] : [];
        var digits = (dot >= 0 ? number[..dot] : number).TrimStart('-');
        // The number is (digits fraction) × 10^-(fraction length - exponent); each trailing zero lowers that scale by one.
        var scale = fraction.Length - exponent;
        var trailingZeros = fraction.Length - fraction.TrimEnd('0').Length;
        if (trailingZeros == fraction.Length) trailingZeros += digits.Length - digits.TrimEnd('0').Length;
        return Math.Max(0, scale - trailingZeros);
    }

    /// <summary>Parses the shared <c>limit</c> query parameter: 1-500, default 50.</summary>
    public static bool TryParseLimit(string? raw, out int limit)
    {
        limit = 50;
        if (raw is null) return true;
        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= 500;
    }
}
