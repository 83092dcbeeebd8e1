using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Oms.ServiceDefaults;

/// <summary>RFC 9457 problem responses that always carry a machine-readable <c>code</c>.</summary>
public static class Problems
{
    public const string ValidationFailed = "validation_failed";
    public const string MalformedJson = "malformed_json";
    public const string PayloadTooLarge = "payload_too_large";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string NotFound = "not_found";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string RateLimited = "rate_limited";

    public static string TypeUri(string code) => $"https://oms.example/problems/{code.Replace('_', '-')}";

    public static ProblemHttpResult Create(int status, string code, string title, string? detail = null) =>
        TypedResults.Problem(new ProblemDetails
        {
            Type = TypeUri(code),
            Title = title,
            Status = status,
            Detail = detail ?? title,
            Extensions = { ["code"] = code },
        });

    public static ProblemHttpResult Validation(IDictionary<string, string[]> errors, string? detail = null) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors)
        {
            Type = TypeUri(ValidationFailed),
            Title = "The request is invalid.",
            Status = StatusCodes.Status400BadRequest,
            Detail = detail ?? "One or more fields are invalid: " + string.Join(", ", errors.Keys) + ".",
            Extensions = { ["code"] = ValidationFailed },
        });

    public static ProblemHttpResult Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult NotFoundProblem(string detail) =>
        Create(StatusCodes.Status404NotFound, NotFound, "Not found.", detail);

    /// <summary>The code for a status the framework produced itself (unmatched route, wrong method…).</summary>
    public static string CodeForStatus(int status) => status switch
    {
        400 => "bad_request",
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        405 => "method_not_allowed",
        413 => PayloadTooLarge,
        415 => UnsupportedMediaType,
        429 => RateLimited,
        503 => "service_unavailable",
        >= 500 => "internal_error",
        _ => "error",
    };
}
