using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Oms.ServiceDefaults;

namespace Payments.Api;

/// <summary>
/// Mock payment authorization over HTTP: bind, validate, decide, call <see cref="PaymentStore"/>, map its answer.
/// Idempotency lives in the store (one row per order), so any number of replicas can answer concurrently.
/// </summary>
public static class PaymentsApi
{
    public const decimal MaxAmount = 1_000_000_000m;

    /// <summary>Amounts below this are authorized; this and above are declined.</summary>
    public const decimal DeclineThreshold = 1000m;

    public const string PaymentVoided = "payment_voided";
    public const string IdempotencyKeyReused = "idempotency_key_reused";

    private static readonly Meter Meter = new("Oms.Payments");
    private static readonly Counter<long> Authorizations = Meter.CreateCounter<long>(
        "oms.payments.authorizations", description: "Authorize requests answered, by outcome.");
    private static readonly Counter<long> Voids = Meter.CreateCounter<long>(
        "oms.payments.voids", description: "Void requests answered.");

    public static IEndpointRouteBuilder MapPaymentsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/payments").WithTags("Payments");

        group.MapPost("/authorize", Authorize)
            .RequireServiceToken()
            .WithName("AuthorizePayment")
            .WithSummary("Authorize a payment for an order (internal).")
            .WithDescription("Amount < 1000 is AUTHORIZED, >= 1000 DECLINED. Idempotent on order_id: a repeat returns the first " +
                             "payment; another amount answers 422 idempotency_key_reused; after a void 409 payment_voided. " +
                             "Requires 'Authorization: Bearer <service token>'.")
            .AcceptsJson<AuthorizeRequest>()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapPost("/void", Void)
            .RequireServiceToken()
            .WithName("VoidPayment")
            .WithSummary("Void an order's payment (internal).")
            .WithDescription("Cancels the authorization. Idempotent. For an order without a payment a tombstone is recorded " +
                             "so that a late authorize is refused. Requires 'Authorization: Bearer <service token>'.")
            .AcceptsJson<VoidRequest>()
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        group.MapGet("/{order_id}", Get)
            .WithName("GetPayment")
            .RequireApiKey(Scopes.PaymentsRead)
            .WithSummary("The payment of an order as it stands (tombstones included).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        return routes;
    }

    internal static async Task<Results<Ok<PaymentResponse>, ProblemHttpResult>> Authorize(
        HttpRequest request, PaymentStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, PaymentsJsonContext.Default.AuthorizeRequest, cancellationToken);
        if (problem is not null) return problem;
        var (orderId, amount) = body;

        var status = amount < DeclineThreshold ? PaymentStatus.Authorized : PaymentStatus.Declined;

        var inserted = await store.TryInsertAsync(new NewPayment(orderId, Guid.CreateVersion7(), amount, status));
        if (inserted is not null)
        {
            Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", status));
            return TypedResults.Ok(new PaymentResponse(inserted.PaymentId, orderId, inserted.Amount, inserted.Status));
        }

        // The order already has a payment (or a tombstone): answer from it, never charge again.
        var stored = await store.FindAsync(orderId, cancellationToken)
            ?? throw new InvalidOperationException($"Payment row for order {orderId} vanished after a conflict.");

        if (stored.Status == PaymentStatus.Voided)
        {
            Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", PaymentVoided));
            return Problems.Create(StatusCodes.Status409Conflict, PaymentVoided, "Payment voided.",
                $"The payment for order {orderId} has been voided; it cannot be authorized.");
        }
        if (stored.Amount != amount)
        {
            Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", IdempotencyKeyReused));
            return Problems.Create(StatusCodes.Status422UnprocessableEntity, IdempotencyKeyReused, "Idempotency key reused.",
                $"Order {orderId} was already authorized for another amount.");
        }

        Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", "REPLAYED"));
        return TypedResults.Ok(new PaymentResponse(stored.PaymentId, stored.OrderId, stored.Amount, stored.Status));
    }

    internal static async Task<Results<Ok<VoidResponse>, ProblemHttpResult>> Void(
        HttpRequest request, PaymentStore store, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, PaymentsJsonContext.Default.VoidRequest, cancellationToken);
        if (problem is not null) return problem;
        var orderId = body.OrderId;

        await store.VoidAsync(orderId, cancellationToken);
        Voids.Add(1);
        return TypedResults.Ok(new VoidResponse(orderId, PaymentStatus.Voided));
    }

    internal static async Task<Results<Ok<PaymentDetails>, ProblemHttpResult>> Get(
        [FromRoute(Name = "order_id")] string orderId, PaymentStore store, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(orderId, out var id))
            return Problems.Validation("order_id", "must be a UUID.");

        var payment = await store.FindAsync(id, cancellationToken);
        return payment is null
            ? Problems.NotFoundProblem($"No payment for order {id}.")
            : TypedResults.Ok(payment);
    }
}
