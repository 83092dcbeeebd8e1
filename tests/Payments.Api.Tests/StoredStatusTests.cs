using System.Net;
using Npgsql;
using Xunit;

namespace Payments.Api.Tests;

/// <summary>A status the service does not know is a bug to surface, never silently read as another status.</summary>
public sealed class StoredStatusTests(PaymentsService service) : IClassFixture<PaymentsService>
{
    [Fact]
    public async Task An_unknown_stored_status_is_500_not_voided()
    {
        var orderId = Guid.NewGuid();
        await (await service.Internal.AuthorizeAsync(orderId, "10")).ExpectAsync(HttpStatusCode.OK);

        // Only a hand edit past the CHECK constraint can store it (this class has its own database).
        await using (var connection = new NpgsqlConnection(service.ConnectionString))
        {
            await connection.OpenAsync(Http.Ct);
            await using (var drop = new NpgsqlCommand("ALTER TABLE payments DROP CONSTRAINT payments_status_check", connection))
                await drop.ExecuteNonQueryAsync(Http.Ct);
            await using var update = new NpgsqlCommand("UPDATE payments SET status = 'REFUNDED' WHERE order_id = $1", connection);
            update.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
            Assert.Equal(1, await update.ExecuteNonQueryAsync(Http.Ct));
        }

        var get = await service.Public.GetPaymentAsync(orderId);
        await get.ExpectProblemAsync(HttpStatusCode.InternalServerError, "internal_error");
        // A replayed authorize reads the same row: it must not answer 409 payment_voided (or anything but an error).
        var replay = await service.Internal.AuthorizeAsync(orderId, "10");
        await replay.ExpectProblemAsync(HttpStatusCode.InternalServerError, "internal_error");
    }
}
