using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Oms.ServiceDefaults;

namespace Payments.Api;

/// <summary>
/// Mock payment authorization. One row per order: <c>order_id</c> is the idempotency key of
/// authorize and void, and every decision is a single conditional statement in PostgreSQL,
/// so any number of replicas can answer concurrently without charging twice.
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
            .WithSummary("The payment of an order as it stands (tombstones included).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        return routes;
    }

    // The happy path is this one statement. On conflict PostgreSQL waits for a concurrent inserter
    // of the same order_id to commit, so the SELECT that follows always sees the winner's row.
    private const string InsertSql = """
        INSERT INTO payments (order_id, payment_id, amount, status) VALUES ($1, $2, $3, $4)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING payment_id, amount, status
        """;

    private const string SelectSql = """
        SELECT payment_id, amount, status, created_at, updated_at FROM payments WHERE order_id = $1
        """;

    // Tombstone when there is no payment yet, otherwise cancel it — in one atomic statement.
    // DO UPDATE locks and re-checks the latest committed row version, so a void that answers 200
    // can never leave a live authorization behind, whatever runs concurrently.
    private const string VoidSql = """
        INSERT INTO payments (order_id, payment_id, amount, status) VALUES ($1, $2, 0, 'VOIDED')
        ON CONFLICT (order_id) DO UPDATE SET status = 'VOIDED', updated_at = now()
        WHERE payments.status <> 'VOIDED'
        """;

    internal static async Task<Results<Ok<PaymentResponse>, ProblemHttpResult>> Authorize(
        HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var ((orderId, amount), problem) = await JsonBody.ReadAsync(request,
            fields => (fields.Uuid("order_id") ?? Guid.Empty, fields.Money("amount", MaxAmount) ?? 0m), cancellationToken);
        if (problem is not null) return problem;

        var status = amount < DeclineThreshold ? PaymentStatus.AUTHORIZED : PaymentStatus.DECLINED;

        await using (var insert = db.CreateCommand(InsertSql))
        {
            insert.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            insert.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.CreateVersion7() });
            insert.Parameters.Add(new NpgsqlParameter<decimal> { TypedValue = amount });
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ToDb(status) });
            await using var reader = await insert.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", ToDb(status)));
                return TypedResults.Ok(new PaymentResponse(reader.GetGuid(0), orderId, reader.GetDecimal(1), FromDb(reader.GetString(2))));
            }
        }

        // The order already has a payment (or a tombstone): answer from it, never charge again.
        var stored = await FindAsync(db, orderId, cancellationToken)
            ?? throw new InvalidOperationException($"Payment row for order {orderId} vanished after a conflict.");

        if (stored.Status == PaymentStatus.VOIDED)
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
        HttpRequest request, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        var (orderId, problem) = await JsonBody.ReadOrderIdAsync(request, cancellationToken);
        if (problem is not null) return problem;

        await using var command = db.CreateCommand(VoidSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.CreateVersion7() });
        await command.ExecuteNonQueryAsync(cancellationToken);

        Voids.Add(1);
        return TypedResults.Ok(new VoidResponse(orderId, PaymentStatus.VOIDED));
    }

    internal static async Task<Results<Ok<PaymentDetails>, ProblemHttpResult>> Get(
        [FromRoute(Name = "order_id")] string orderId, NpgsqlDataSource db, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(orderId, out var id))
            return Problems.Validation("order_id", "must be a UUID.");

        var payment = await FindAsync(db, id, cancellationToken);
        return payment is null
            ? Problems.NotFoundProblem($"No payment for order {id}.")
            : TypedResults.Ok(payment);
    }

    private static async Task<PaymentDetails?> FindAsync(NpgsqlDataSource db, Guid orderId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(SelectSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new PaymentDetails(reader.GetGuid(0), orderId, reader.GetDecimal(1), FromDb(reader.GetString(2)),
            reader.GetFieldValue<DateTime>(3), reader.GetFieldValue<DateTime>(4));
    }

    private static string ToDb(PaymentStatus status) => status switch
    {
        PaymentStatus.AUTHORIZED => "AUTHORIZED",
        PaymentStatus.DECLINED => "DECLINED",
        _ => "VOIDED",
    };

    private static PaymentStatus FromDb(string status) => status switch
    {
        "AUTHORIZED" => PaymentStatus.AUTHORIZED,
        "DECLINED" => PaymentStatus.DECLINED,
        "VOIDED" => PaymentStatus.VOIDED,
        _ => throw new InvalidOperationException($"Unknown payment status '{status}' in the database."),
    };
}
