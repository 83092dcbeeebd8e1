using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
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
            .RequireApiKey(Scopes.PaymentsRead)
            .WithSummary("The payment of an order as it stands (tombstones included).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        return routes;
    }

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
        HttpRequest request, NpgsqlDataSource db, PaymentInserts inserts, CancellationToken cancellationToken)
    {
        var (body, problem) = await RequestBody.ReadAsync(request, PaymentsJsonContext.Default.AuthorizeRequest, cancellationToken);
        if (problem is not null) return problem;
        var (orderId, amount) = body;

        var status = amount < DeclineThreshold ? PaymentStatus.AUTHORIZED : PaymentStatus.DECLINED;

        var inserted = await inserts.RunAsync(new NewPayment(orderId, Guid.CreateVersion7(), amount, ToDb(status)));
        if (inserted is not null)
        {
            Authorizations.Add(1, new KeyValuePair<string, object?>("outcome", ToDb(status)));
            return TypedResults.Ok(new PaymentResponse(inserted.PaymentId, orderId, inserted.Amount, FromDb(inserted.Status)));
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
        var (body, problem) = await RequestBody.ReadAsync(request, PaymentsJsonContext.Default.VoidRequest, cancellationToken);
        if (problem is not null) return problem;
        var orderId = body.OrderId;

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

public sealed record NewPayment(Guid OrderId, Guid PaymentId, decimal Amount, string Status);

public sealed record InsertedPayment(Guid PaymentId, decimal Amount, string Status);

/// <summary>
/// The authorize insert, the happy path's one statement. Under load concurrent authorizations share one statement
/// and one commit (<see cref="Coalescer{TItem,TResult}"/>). On conflict PostgreSQL waits for a concurrent inserter
/// of the same order_id to commit, so the SELECT that follows a null always sees the winner's row.
/// </summary>
public sealed class PaymentInserts : IAsyncDisposable
{
    private const string InsertOneSql = """
        INSERT INTO payments (order_id, payment_id, amount, status) VALUES ($1, $2, $3, $4)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING payment_id, amount, status
        """;

    // Rows go in order_id order, so groups that share orders wait on each other in one order, never in a cycle.
    // An order twice in one group is inserted once; the other call gets null and answers from the stored row.
    private const string InsertManySql = """
        INSERT INTO payments (order_id, payment_id, amount, status)
        SELECT o, p, a, s FROM unnest($1::uuid[], $2::uuid[], $3::numeric[], $4::text[]) AS u(o, p, a, s)
        ORDER BY o
        ON CONFLICT (order_id) DO NOTHING
        RETURNING payment_id, amount, status
        """;

    private readonly NpgsqlDataSource db;
    private readonly Coalescer<NewPayment, InsertedPayment?> inserts;

    public PaymentInserts(NpgsqlDataSource db, IOptions<CoalescingOptions> coalescing)
    {
        this.db = db;
        // PostgreSQL refusing a group's statement may be one call's doing: those run again alone.
        inserts = new Coalescer<NewPayment, InsertedPayment?>(coalescing.Value, InsertGroupAsync, DatabaseErrors.IsRefusedStatement);
    }

    /// <summary>The new payment, or null when the order already has one (or a tombstone).</summary>
    public Task<InsertedPayment?> RunAsync(NewPayment payment) => inserts.RunAsync(payment);

    private async Task<IReadOnlyList<InsertedPayment?>> InsertGroupAsync(IReadOnlyList<NewPayment> payments)
    {
        await using var command = db.CreateCommand(payments.Count == 1 ? InsertOneSql : InsertManySql);
        if (payments.Count == 1)
        {
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = payments[0].OrderId });
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = payments[0].PaymentId });
            command.Parameters.Add(new NpgsqlParameter<decimal> { TypedValue = payments[0].Amount });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = payments[0].Status });
        }
        else
        {
            command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. payments.Select(p => p.OrderId)] });
            command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. payments.Select(p => p.PaymentId)] });
            command.Parameters.Add(new NpgsqlParameter<decimal[]> { TypedValue = [.. payments.Select(p => p.Amount)] });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. payments.Select(p => p.Status)] });
        }
        var inserted = new Dictionary<Guid, InsertedPayment>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                inserted[reader.GetGuid(0)] = new InsertedPayment(reader.GetGuid(0), reader.GetDecimal(1), reader.GetString(2));
        }
        return [.. payments.Select(p => inserted.GetValueOrDefault(p.PaymentId))];
    }

    public ValueTask DisposeAsync() => inserts.DisposeAsync();
}
