using System.Text.Json.Serialization;

namespace Payments.Api;

/// <summary>A payment's status: the same string on the wire and in the database (its CHECK constraint lists them).</summary>
public static class PaymentStatus
{
    public const string Authorized = "AUTHORIZED";
    public const string Declined = "DECLINED";
    public const string Voided = "VOIDED";

    /// <summary>A status read from the database; anything else is a bug, never silently another status.</summary>
    public static string Parse(string stored) => stored switch
    {
        Authorized => Authorized,
        Declined => Declined,
        Voided => Voided,
        _ => throw new InvalidOperationException($"Unknown payment status '{stored}' in the database."),
    };
}

public sealed record AuthorizeRequest(Guid OrderId, [property: Money((long)PaymentsApi.MaxAmount)] decimal Amount);

public sealed record VoidRequest(Guid OrderId);

public sealed record PaymentResponse(Guid PaymentId, Guid OrderId, decimal Amount, string Status);

public sealed record VoidResponse(Guid OrderId, string Status);

public sealed record PaymentDetails(Guid PaymentId, Guid OrderId, decimal Amount, string Status,
    DateTime CreatedAt, DateTime UpdatedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AuthorizeRequest))]
[JsonSerializable(typeof(VoidRequest))]
[JsonSerializable(typeof(PaymentResponse))]
[JsonSerializable(typeof(VoidResponse))]
[JsonSerializable(typeof(PaymentDetails))]
internal sealed partial class PaymentsJsonContext : JsonSerializerContext;
