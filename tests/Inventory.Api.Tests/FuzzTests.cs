using System.Text.Json;
using CsCheck;
using Npgsql;
using Oms.Testing;
using Oms.Testing.Fuzz;
using static Oms.Testing.Fuzz.FuzzJson;

namespace Inventory.Api.Tests;

/// <summary>The fuzzed service: stock for valid reserves, and the log of every row it writes.</summary>
public sealed class FuzzedInventory(PostgresServer postgres) : InventoryService(postgres)
{
    public const long ReservePoolStock = 1_000_000_000;
    public static readonly string[] ReservePool = ["fz-r0", "fz-r1", "fz-r2", "fz-r3"];
    public static readonly string[] WritePool = ["fz-w0", "fz-w1", "fz-w2", "FZ.w_3"];

    private readonly PostgresServer _postgres = postgres;
    public WriteLog Writes { get; private set; } = null!;
    public Uri Address => Client.BaseAddress!;

    protected override async Task SeedAsync()
    {
        // Reserves of valid bodies must succeed: their SKUs hold far more stock than a run can take.
        foreach (var sku in ReservePool) (await Client.PutJson($"/api/v1/stock/items/{sku}", $$"""{"quantity":{{ReservePoolStock}}}""")).EnsureSuccessStatusCode();
        Writes = await WriteLog.InstallAsync(_postgres, ConnectionString);
    }
}

/// <summary>
/// Property-based tests of every inventory endpoint (see <see cref="FuzzRunner"/> for the properties):
/// generated bodies, paths and queries against the real service on real PostgreSQL.
/// </summary>
public sealed class FuzzTests(FuzzedInventory inventory) : IClassFixture<FuzzedInventory>
{
    // Order ids reused across cases, so repeats, releases of real reservations and reserves after a release happen.
    private static readonly Gen<Guid> ReusedOrderIds = Gen.Int[0, 40].Select(n => new Guid($"00000000-0000-4000-8000-{n:D12}"));

    private static readonly Gen<string> AnySku = Gen.String[Gen.Char["ABCXYZabcxyz0189._-"], 1, 64];

    /// <summary>Valid: a stocked SKU (the reserve succeeds); unclear: any SKU (it may not exist).</summary>
    private static readonly JsonField ReserveSku = Sku("item_sku", Gen.OneOf(FuzzedInventory.ReservePool)) is var sku
        ? sku with { Odd = Gens.OneOf(sku.Odd, AnySku.Select(s => $"\"{s}\"")) }
        : throw new InvalidOperationException();

    private static readonly JsonField LineQuantity = Integer("quantity", 1, StockApi.MaxReserve, 100);

    private static string Line(string sku, string quantity) => $$"""{"item_sku":{{sku}},"quantity":{{quantity}}}""";

    private static string Array(IEnumerable<string> values) => "[" + string.Join(",", values) + "]";

    /// <summary>1-4 lines of distinct stocked SKUs (each spelled with some escapes), in a rotating order.</summary>
    private static readonly Gen<string[]> ValidLines = Gen.Select(Gen.Int[1, FuzzedInventory.ReservePool.Length], Gen.Int[0, FuzzedInventory.ReservePool.Length - 1])
        .SelectMany((count, offset) => All(FuzzedInventory.ReservePool.Concat(FuzzedInventory.ReservePool).Skip(offset).Take(count)
            .Select(sku => Gen.Select(EscapeSome(sku), LineQuantity.Valid).Select((s, q) => Line(s, q)))));

    /// <summary>
    /// The multi-line form's items: valid lines reserve; an empty, too long, duplicated or not-an-array list, or one
    /// line with a broken field, is refused; lines of SKUs that may not exist may be 200 or 404.
    /// </summary>
    private static readonly JsonField Items = new("items",
        Valid: ValidLines.Select(Array),
        Invalid: Gens.Frequency(
            (2, Gen.Const("[]")),
            (1, Gen.Int[ReserveRequest.MaxLines + 1, ReserveRequest.MaxLines + 5].Select(n =>
                Array(Enumerable.Range(0, n).Select(i => Line($"\"fz-many-{i}\"", "1"))))),
            // The same SKU twice (the second spelled with escapes: still the same SKU).
            (2, Gen.Select(ValidLines, Gen.OneOf(FuzzedInventory.ReservePool)).SelectMany((lines, sku) =>
                EscapeSome(sku).Select(escaped => Array([Line($"\"{sku}\"", "1"), .. lines.Where(l => !l.Contains(sku)), Line(escaped, "2")])))),
            (3, Gen.Select(ValidLines, ReserveSku.Invalid, LineQuantity.Valid).Select((lines, sku, q) => Array([.. lines, Line(sku, q)]))),
            (3, Gen.Select(ValidLines, LineQuantity.Invalid, Gen.OneOf(FuzzedInventory.ReservePool)).Select((lines, q, sku) =>
                Array([Line($"\"{sku}\"", q), .. lines.Where(l => !l.Contains(sku))]))),
            (1, ValidLines.Select(lines => Array([.. lines, "{\"quantity\":1}"]))),
            (1, ValidLines.Select(lines => Array([.. lines, "null"]))),
            (1, ValidLines.Select(lines => Array([.. lines, "7"]))),
            (2, NotAString.Where(v => v != "null" && !v.StartsWith('[')))),
        Odd: Gens.OneOf(
            AnyValue(3),
            Gen.Select(ValidLines, AnySku).Select((lines, sku) => Array([.. lines.Where(l => !l.Contains(sku)), Line($"\"{sku}\"", "1")]))));

    // Cases are generated from their index: the one-line and the items run would draw the same fresh ids, so the items
    // run turns its ids into others (a fresh id must be fresh, not the other run's reservation).
    private static readonly Gen<Guid> FreshLineIds = Gen.Guid.Select(id => new Guid([.. id.ToByteArray().Select(b => (byte)~b)]));

    private static JsonField OrderId(bool freshValid, Gen<Guid>? fresh = null) => freshValid
        ? Uuid("order_id", fresh ?? Gen.Guid) with { Odd = Gens.OneOf(Uuid("order_id", fresh ?? Gen.Guid).Odd, ReusedOrderIds.Select(id => $"\"{id}\"")) }
        : Uuid("order_id", Gens.OneOf(Gen.Guid, ReusedOrderIds));

    private static void AllowKeys(FuzzCase _, RawResponse __, JsonElement body, WriteAllowance allowance)
    {
        if (body.ValueKind != JsonValueKind.Object) return;
        if (body.TryGetProperty("order_id", out var id) && id.ValueKind == JsonValueKind.String) allowance.OrderIds.Add(id.GetString()!);
        if (body.TryGetProperty("item_sku", out var sku) && sku.ValueKind == JsonValueKind.String) allowance.Skus.Add(sku.GetString()!);
        if (body.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array)
            foreach (var line in items.EnumerateArray())
                if (line.TryGetProperty("item_sku", out var lineSku) && lineSku.ValueKind == JsonValueKind.String) allowance.Skus.Add(lineSku.GetString()!);
    }

    /// <summary>
    /// A release also gives back the items of a multi-line reservation, whose row names no SKU: its lines (written once,
    /// never changed) say which.
    /// </summary>
    private void AllowReleasedLines(FuzzCase fuzzCase, RawResponse response, JsonElement body, WriteAllowance allowance)
    {
        AllowKeys(fuzzCase, response, body, allowance);
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("order_id", out var id) || !id.TryGetGuid(out var orderId)) return;
        using var connection = new NpgsqlConnection(inventory.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand("SELECT sku FROM reservation_lines WHERE order_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = orderId });
        using var reader = command.ExecuteReader();
        while (reader.Read()) allowance.Skus.Add(reader.GetString(0));
    }

    private Task Run(string name, Gen<FuzzCase> cases, int defaultCases,
        Action<FuzzCase, RawResponse, JsonElement, WriteAllowance>? allow = null) =>
        FuzzRunner.RunAsync(name, inventory.Address, cases, defaultCases, [inventory.Writes], allow ?? AllowKeys);

    [Fact]
    public Task Receive_stock() => Run("POST /api/v1/stock/items",
        FuzzRequests.Json("POST", "/api/v1/stock/items",
            Bodies(Sku("item_sku", Gens.OneOf(Gen.OneOf(FuzzedInventory.WritePool), AnySku)), Integer("quantity", 1, StockApi.MaxReceive, 1000)),
            FuzzRequests.NoHeaders),
        defaultCases: 600);

    [Fact]
    public Task Set_stock() => Run("PUT /api/v1/stock/items/{sku}",
        FuzzRequests.Json("PUT",
            FuzzRequests.Segment(Gens.OneOf(Gen.OneOf(FuzzedInventory.WritePool), AnySku), v => Judge(IsSku(v)))
                .Select(s => ("/api/v1/stock/items/" + s.Segment, s.Expect)),
            Bodies(Integer("quantity", 0, StockApi.MaxSet, 1_000_000)),
            FuzzRequests.NoHeaders),
        defaultCases: 500);

    [Fact]
    public Task Reserve() => Run("POST /api/v1/stock/reserve",
        FuzzRequests.Json("POST", "/api/v1/stock/reserve",
            Bodies(OrderId(freshValid: true),
                ReserveSku,
                Integer("quantity", 1, StockApi.MaxReserve, 100)),
            FuzzRequests.ServiceToken),
        defaultCases: 600);

    [Fact]
    public Task Reserve_lines() => Run("POST /api/v1/stock/reserve (items)",
        FuzzRequests.Json("POST", "/api/v1/stock/reserve", Bodies(OrderId(freshValid: true, FreshLineIds), Items), FuzzRequests.ServiceToken),
        defaultCases: 500);

    [Fact]
    public Task Release() => Run("POST /api/v1/stock/release",
        FuzzRequests.Json("POST", "/api/v1/stock/release", Bodies(OrderId(freshValid: false)), FuzzRequests.ServiceToken),
        defaultCases: 400, AllowReleasedLines);

    [Fact]
    public Task Get_endpoints() => Run("GET /api/v1/stock/…",
        Gens.Frequency(
            // A stocked SKU is 200; any other valid SKU may not exist (200 or 404); an invalid one is 400.
            (1, FuzzRequests.Get(FuzzRequests.Segment(Gen.OneOf(FuzzedInventory.ReservePool),
                    v => FuzzedInventory.ReservePool.Contains(v) ? Expect.Success : IsSku(v) ? Expect.Any : Expect.ClientError)
                .Select(s => ("/api/v1/stock/" + s.Segment, s.Expect, s.Label)))),
            // A valid SKU that may not exist: 200 or 404, both right.
            (1, FuzzRequests.Get(AnySku.Select(s => ("/api/v1/stock/" + s, Expect.Any, "any sku")))),
            (2, FuzzRequests.Get(FuzzRequests.Query(
                    ("limit", Gen.Int[1, 500].Select(n => n.ToString()), v => Judge(IsLimit(v))),
                    ("after", Gens.OneOf(Gen.OneOf(FuzzedInventory.ReservePool), AnySku), v => Judge(IsSku(v))))
                .Select(q => ("/api/v1/stock" + q.Query, q.Expect, q.Label))))),
        defaultCases: 400);
}
