using System.Text.Json.Serialization;

namespace Payments.Api;

[JsonConverter(typeof(JsonStringEnumConverter<PaymentStatus>))]
#pragma warning disable CA1707 // Wire values are UPPER_CASE, as the contract says.
public enum PaymentStatus
{
    AUTHORIZED,
    DECLINED,
    VOIDED,
}
#pragma warning restore CA1707

public sealed record AuthorizeRequest(Guid OrderId, [property: Money((long)PaymentsApi.MaxAmount)] decimal Amount);

public sealed record VoidRequest(Guid OrderId);

public sealed record PaymentResponse(Guid PaymentId, Guid OrderId, decimal Amount, PaymentStatus Status);

public sealed record VoidResponse(Guid OrderId, PaymentStatus Status);

public sealed record PaymentDetails(Guid PaymentId, Guid OrderId, decimal Amount, PaymentStatus Status,
    DateTime CreatedAt, DateTime UpdatedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AuthorizeRequest))]
[JsonSerializable(typeof(VoidRequest))]
[JsonSerializable(typeof(PaymentResponse))]
[JsonSerializable(typeof(VoidResponse))]
[JsonSerializable(typeof(PaymentDetails))]
internal sealed partial class PaymentsJsonContext : JsonSerializerContext;
