using Microsoft.Extensions.Options;
using Npgsql;
using Oms.ServiceDefaults;

namespace Payments.Api;

public sealed record NewPayment(Guid OrderId, Guid PaymentId, decimal Amount, string Status);

public sealed record InsertedPayment(Guid PaymentId, decimal Amount, string Status);

/// <summary>
/// The payments table: one row per order, so <c>order_id</c> is the idempotency key of authorize and void, and every
/// decision is a single conditional statement. The authorize insert is the happy path's one statement: under load
/// concurrent authorizations share one statement and one commit (<see cref="Coalescer{TItem,TResult}"/>). On conflict
/// PostgreSQL waits for a concurrent inserter of the same order_id to commit, so a read after a null insert always
/// sees the winner's row.
/// </summary>
public sealed class PaymentStore : IAsyncDisposable
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

    private readonly NpgsqlDataSource db;
    private readonly Coalescer<NewPayment, InsertedPayment?> inserts;

    public PaymentStore(NpgsqlDataSource db, IOptions<CoalescingOptions> coalescing)
    {
        this.db = db;
        // PostgreSQL refusing a group's statement may be one call's doing: those run again alone.
        inserts = new Coalescer<NewPayment, InsertedPayment?>(coalescing.Value, InsertGroupAsync, DatabaseErrors.IsRefusedStatement);
    }

    /// <summary>The new payment, or null when the order already has one (or a tombstone).</summary>
    public Task<InsertedPayment?> TryInsertAsync(NewPayment payment) => inserts.RunAsync(payment);

    /// <summary>The order's payment as it stands (tombstones included); null when there is none.</summary>
    public async Task<PaymentDetails?> FindAsync(Guid orderId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(SelectSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new PaymentDetails(reader.GetGuid(0), orderId, reader.GetDecimal(1), PaymentStatus.Parse(reader.GetString(2)),
            reader.GetFieldValue<DateTime>(3), reader.GetFieldValue<DateTime>(4));
    }

    /// <summary>Voids the order's payment, or records a tombstone when it has none. Idempotent.</summary>
    public async Task VoidAsync(Guid orderId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(VoidSql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.CreateVersion7() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

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
                inserted[reader.GetGuid(0)] = new InsertedPayment(reader.GetGuid(0), reader.GetDecimal(1), PaymentStatus.Parse(reader.GetString(2)));
        }
        return [.. payments.Select(p => inserted.GetValueOrDefault(p.PaymentId))];
    }

    public ValueTask DisposeAsync() => inserts.DisposeAsync();
}
