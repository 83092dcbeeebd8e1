using System.Text.Json;
using CsCheck;
using Oms.Testing;
using Oms.Testing.Fuzz;
using Xunit;
using static Oms.Testing.Fuzz.FuzzJson;

namespace Payments.Api.Tests;

/// <summary>The fuzzed service and the log of every row it writes.</summary>
public sealed class FuzzedPayments(PostgresServer postgres) : IAsyncLifetime
{
    public PaymentsService Service { get; } = new(postgres);
    public WriteLog Writes { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Service.InitializeAsync();
        Writes = await WriteLog.InstallAsync(postgres, Service.ConnectionString);
    }

    public ValueTask DisposeAsync() => Service.DisposeAsync();
}

/// <summary>
/// Property-based tests of every payment endpoint (see <see cref="FuzzRunner"/> for the properties):
/// generated bodies, paths and headers against the real service on real PostgreSQL.
/// </summary>
public sealed class FuzzTests(FuzzedPayments payments) : IClassFixture<FuzzedPayments>
{
    // Order ids reused across cases, so repeats, other amounts for the same order and authorizes after a void happen.
    private static readonly Gen<Guid> ReusedOrderIds = Gen.Int[0, 40].Select(n => new Guid($"00000000-0000-4000-8000-{n:D12}"));

    private static void AllowOrderId(FuzzCase _, RawResponse __, JsonElement body, WriteAllowance allowance)
    {
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("order_id", out var id) && id.ValueKind == JsonValueKind.String)
            allowance.OrderIds.Add(id.GetString()!);
    }

    private Task Run(string name, Gen<FuzzCase> cases, int defaultCases) =>
        FuzzRunner.RunAsync(name, payments.Service.Public.BaseAddress!, cases, defaultCases, [payments.Writes], AllowOrderId);

    [Fact]
    public Task Authorize() => Run("POST /api/v1/payments/authorize",
        FuzzRequests.Json("POST", "/api/v1/payments/authorize",
            // A fresh order id is authorized or declined (200); a reused one may be a replay, 422 or 409.
            Bodies(Uuid("order_id", Gen.Guid) is var id ? id with { Odd = Gens.OneOf(id.Odd, ReusedOrderIds.Select(r => $"\"{r}\"")) } : throw new InvalidOperationException(),
                Money("amount", PaymentsApi.MaxAmount, 2 * PaymentsApi.DeclineThreshold)),
            FuzzRequests.ServiceToken),
        defaultCases: 700);

    [Fact]
    public Task Void() => Run("POST /api/v1/payments/void",
        FuzzRequests.Json("POST", "/api/v1/payments/void", Bodies(Uuid("order_id", Gens.OneOf(Gen.Guid, ReusedOrderIds))), FuzzRequests.ServiceToken),
        defaultCases: 400);

    [Fact]
    public Task Get_payment() => Run("GET /api/v1/payments/{order_id}",
        // A valid id may have no payment: 200 or 404, both right; anything else is 400.
        FuzzRequests.Get(FuzzRequests.Segment(Gens.OneOf(Gen.Guid, ReusedOrderIds).Select(g => g.ToString()),
                v => Guid.TryParse(v, out _) ? Expect.Any : Expect.ClientError)
            .Select(s => ("/api/v1/payments/" + s.Segment, s.Expect == Expect.Success ? Expect.Any : s.Expect, s.Label))),
        defaultCases: 300);
}
