using System.Globalization;
using System.Text;
using System.Text.Json;
using CsCheck;
using Xunit;

namespace Oms.Testing.Fuzz;

/// <summary>One generated request and what it must get back.</summary>
public sealed record FuzzCase(RawRequest Request, Expect Expect, string Label);

/// <summary>The keys a 2xx answer allows the service to write (rows whose order_id or sku is one of them).</summary>
public sealed class WriteAllowance
{
    public HashSet<string> OrderIds { get; } = new(StringComparer.OrdinalIgnoreCase);
    public HashSet<string> Skus { get; } = new(StringComparer.Ordinal);

    /// <summary>A row with an order_id is allowed by its order_id (and then vouches for its sku); a row with only a sku by its sku.</summary>
    public IReadOnlyList<RowWrite> Unexplained(IReadOnlyList<RowWrite> writes)
    {
        foreach (var write in writes)
            if (write.OrderId is { } id && OrderIds.Contains(id) && write.Sku is { } sku) Skus.Add(sku);
        return writes.Where(w => w.OrderId is { } id ? !OrderIds.Contains(id) : w.Sku is null || !Skus.Contains(w.Sku)).ToList();
    }
}

/// <summary>
/// Runs generated requests against a real service and checks the properties every answer must have:
/// never a 5xx; every 4xx is application/problem+json with a non-empty <c>code</c>; a 2xx for a request the contract
/// accepts, a 4xx for one it refuses; and nothing written for a request that was not answered 2xx (checked per batch
/// through <see cref="WriteLog"/>s: every row written must belong to an order id or sku a 2xx answer in the batch names).
/// Case <c>i</c> is generated from <c>new PCG(i, seed)</c>: a run is reproducible from its seed, and each case on its own.
/// </summary>
public static class FuzzRunner
{
    public const string IterationsVariable = "OMS_FUZZ_ITERATIONS";
    public const string SeedVariable = "OMS_FUZZ_SEED";
    public const ulong DefaultSeed = 20261128;
    private const int BatchSize = 25;
    private const int MaxReportedFailures = 8;

    public static ulong Seed => Environment.GetEnvironmentVariable(SeedVariable) is { Length: > 0 } s
        ? ulong.Parse(s, CultureInfo.InvariantCulture) : DefaultSeed;

    /// <summary>The number of cases a fuzz test runs: its default, or <c>OMS_FUZZ_ITERATIONS</c> when set.</summary>
    public static int Cases(int defaultCases) => Environment.GetEnvironmentVariable(IterationsVariable) is { Length: > 0 } s
        ? int.Parse(s, CultureInfo.InvariantCulture) : defaultCases;

    /// <param name="allow">For a 2xx answer: adds the keys that request may write to the allowance.</param>
    /// <param name="cumulative">Whether an allowance carries over to later batches (work that finishes in the background).</param>
    public static async Task RunAsync(string name, Uri service, Gen<FuzzCase> cases, int defaultCases, IReadOnlyList<WriteLog> logs,
        Action<FuzzCase, RawResponse, JsonElement, WriteAllowance> allow, bool cumulative = false)
    {
        var seed = Seed;
        var count = Cases(defaultCases);
        var failures = new List<string>();
        var tally = new Dictionary<string, int>();
        var allowance = new WriteAllowance();
        foreach (var log in logs) await log.TakeNewAsync();
        await using var client = new RawHttpClient(service);

        for (var start = 0; start < count && failures.Count < MaxReportedFailures; start += BatchSize)
        {
            if (!cumulative) allowance = new WriteAllowance();
            var batch = new List<(int Index, FuzzCase Case, RawResponse Response)>();
            for (var i = start; i < Math.Min(count, start + BatchSize); i++)
            {
                var fuzzCase = cases.Generate(new PCG((uint)i, seed), null, out _);
                var response = await client.SendAsync(fuzzCase.Request, TestContext.Current.CancellationToken);
                batch.Add((i, fuzzCase, response));
                var key = $"{fuzzCase.Request.Method} {fuzzCase.Expect} {response.Status}";
                tally[key] = tally.GetValueOrDefault(key) + 1;
                if (Check(fuzzCase, response, out var body) is { } problem)
                    failures.Add(Report(name, seed, i, fuzzCase, response, problem));
                else if (response.Status is >= 200 and < 300) allow(fuzzCase, response, body, allowance);
            }

            var writes = new List<RowWrite>();
            foreach (var log in logs) writes.AddRange(await log.TakeNewAsync());
            if (allowance.Unexplained(writes) is { Count: > 0 } unexplained)
                failures.Add($"[{name}] {SeedVariable}={seed}, cases #{start}-#{start + batch.Count - 1}: rows written that no 2xx answer of the batch " +
                             $"accounts for:\n  {string.Join("\n  ", unexplained)}\nthe batch's requests not answered 2xx:\n" +
                             string.Join("\n", batch.Where(b => b.Response.Status is < 200 or >= 300)
                                 .Select(b => $"#{b.Index} ({b.Response.Status}, {b.Case.Label}):\n{Indent(b.Case.Request.Describe())}")));
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"[{name}] {count} cases, {SeedVariable}={seed}: " + string.Join(", ", tally.OrderBy(t => t.Key).Select(t => $"{t.Key}: {t.Value}")));
        if (failures.Count > 0)
            Assert.Fail($"[{name}] {failures.Count}{(failures.Count >= MaxReportedFailures ? "+" : "")} property violations " +
                        $"(reproduce with {SeedVariable}={seed}; the run stops after {MaxReportedFailures}):\n\n" + string.Join("\n\n", failures));
    }

    /// <summary>The universal properties of one answer; null when they hold.</summary>
    private static string? Check(FuzzCase fuzzCase, RawResponse response, out JsonElement body)
    {
        body = default;
        if (response.Status >= 500) return "a 5xx";
        if (response.Status is >= 400 and < 500)
        {
            var mediaType = response.Header("Content-Type")?.Split(';')[0].Trim();
            if (!string.Equals(mediaType, "application/problem+json", StringComparison.OrdinalIgnoreCase))
                return $"a {response.Status} that is not application/problem+json (Content-Type: {response.Header("Content-Type") ?? "none"})";
            if (!TryParse(response.Body, out body) || body.ValueKind != JsonValueKind.Object
                || !body.TryGetProperty("code", out var code) || code.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(code.GetString()))
                return $"a {response.Status} problem without a non-empty string \"code\"";
            if (body.TryGetProperty("status", out var status) && (status.ValueKind != JsonValueKind.Number || !status.TryGetInt32(out var said) || said != response.Status))
                return $"a {response.Status} problem whose \"status\" says {status}";
        }
        else if (response.Status is >= 200 and < 300 && response.Body.Length > 0 && !TryParse(response.Body, out body))
            return $"a {response.Status} whose body is not JSON";

        return fuzzCase.Expect switch
        {
            Expect.Success when response.Status is < 200 or >= 300 => $"a {response.Status} for a request the contract accepts (expected 2xx)",
            Expect.ClientError when response.Status is < 400 or >= 500 => $"a {response.Status} for a request the contract refuses (expected 4xx)",
            _ => null,
        };
    }

    private static bool TryParse(byte[] bytes, out JsonElement element)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            element = document.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            element = default;
            return false;
        }
    }

    private static string Report(string name, ulong seed, int index, FuzzCase fuzzCase, RawResponse response, string problem) =>
        new StringBuilder()
            .Append($"[{name}] case #{index} ({SeedVariable}={seed}), {fuzzCase.Label}: {problem}\n")
            .Append("request:\n").Append(Indent(fuzzCase.Request.Describe())).Append('\n')
            .Append("response:\n").Append(Indent(response.ToString()))
            .ToString();

    private static string Indent(string text) => "    " + text.Replace("\n", "\n    ");
}
