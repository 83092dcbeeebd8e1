namespace Oms.LoadGen;

/// <summary>What the load looks like: steady load spread over many SKUs, or a flash sale on one.</summary>
public enum LoadScenario { Steady, FlashSale }

/// <summary>
/// A flash sale: <paramref name="Stock"/> units of one hot SKU, every order takes 1 of them. With more than one line per
/// order, each basket is the hot SKU plus lines of 1 unit on plentiful SKUs; <paramref name="SingleLinePercent"/> of the
/// baskets are the hot SKU alone, so that one-line and multi-line orders race for the same units.
/// </summary>
public sealed record FlashSaleOptions(long Stock, int SingleLinePercent = 0)
{
    /// <summary>The hot SKU's index among the run's SKUs (the plentiful ones follow it).</summary>
    public const int HotIndex = 0;

    /// <summary>
    /// Whether order <paramref name="sequence"/> is a one-line basket. Deterministic: every 100 consecutive orders hold
    /// exactly <see cref="SingleLinePercent"/> of them, spread out (7919 is a prime coprime with 100: it permutes the slots).
    /// </summary>
    public bool IsSingleLine(long sequence) => sequence % 100 * 7919 % 100 < SingleLinePercent;

    /// <summary>The SKU indices of one basket: the hot SKU first, then <c>lines - 1</c> distinct plentiful ones (indices 1..skuCount-1).</summary>
    public int[] PickBasket(Random random, long sequence, int lines, int skuCount)
    {
        if (lines == 1 || IsSingleLine(sequence)) return [HotIndex];
        var others = Runner.PickSkus(random, lines - 1, skuCount - 1, null);
        return [HotIndex, .. others.Select(i => i + 1)];
    }
}

/// <summary>
/// The flash sale's books, exact: min(stock, orders) orders CONFIRMED taking exactly that many hot units, every other
/// order FAILED with INSUFFICIENT_STOCK, no errors, nothing left PENDING, the hot SKU's shelf holding the rest
/// (0 when the sale sold out), and stock conserved on every SKU.
/// </summary>
public sealed record FlashSaleVerdict(
    bool Ok,
    string HotSku,
    long Stock,
    long Orders,
    int SingleLinePercent,
    long ExpectedConfirmed,
    long Confirmed,
    long HotUnitsConfirmed,
    long InsufficientStock,
    long HotAvailable,
    long Errors,
    SortedDictionary<string, long> Outcomes,
    IReadOnlyList<string> Problems)
{
    public const string ConfirmedKey = "CONFIRMED";
    public const string InsufficientStockKey = "FAILED:INSUFFICIENT_STOCK";

    /// <summary>The final outcome of each order: what its first answer said when final, else what the settling replays found.</summary>
    public static SortedDictionary<string, long> FinalOutcomes(IReadOnlyDictionary<string, long> firstAnswers, IReadOnlyDictionary<string, long> settled)
    {
        var outcomes = new SortedDictionary<string, long>(StringComparer.Ordinal);
        // PENDING and unanswered orders were replayed: their outcome is in settled (STILL_PENDING when it never came).
        foreach (var (key, n) in firstAnswers.Where(kv => kv.Key is not ("PENDING" or "NO_ANSWER")))
            outcomes[key] = outcomes.GetValueOrDefault(key) + n;
        foreach (var (key, n) in settled) outcomes[key] = outcomes.GetValueOrDefault(key) + n;
        return outcomes;
    }

    public static FlashSaleVerdict Check(FlashSaleOptions sale, long orders, SortedDictionary<string, long> outcomes, long errors,
        SkuBalance hot, ConservationResult conservation)
    {
        var expected = Math.Min(sale.Stock, orders);
        var confirmed = outcomes.GetValueOrDefault(ConfirmedKey);
        var insufficient = outcomes.GetValueOrDefault(InsufficientStockKey);
        var problems = new List<string>();
        if (confirmed != expected) problems.Add($"{confirmed} orders CONFIRMED, expected exactly {expected}");
        if (hot.Confirmed != expected) problems.Add($"{hot.Confirmed} hot units in CONFIRMED orders, expected exactly {expected}");
        if (insufficient != orders - expected) problems.Add($"{insufficient} orders FAILED with INSUFFICIENT_STOCK, expected exactly {orders - expected}");
        foreach (var (key, n) in outcomes.Where(kv => kv.Key is not (ConfirmedKey or InsufficientStockKey) && kv.Value > 0))
            problems.Add($"{n} orders {key}");
        if (confirmed + insufficient != orders) problems.Add($"{confirmed + insufficient} of {orders} orders have one of the two expected outcomes");
        if (errors != 0) problems.Add($"{errors} errors (transport failures or unexpected status codes)");
        if (hot.Available != sale.Stock - expected) problems.Add($"the hot SKU has {hot.Available} units left, expected {sale.Stock - expected}");
        if (!conservation.Ok) problems.Add($"stock not conserved on {conservation.Violations.Count} SKU(s)");
        return new FlashSaleVerdict(problems.Count == 0, hot.Sku, sale.Stock, orders, sale.SingleLinePercent, expected, confirmed, hot.Confirmed,
            insufficient, hot.Available, errors, outcomes, problems);
    }

    public string ToText() =>
        $"flash sale {(Ok ? "EXACT" : "WRONG")}: {Stock} units of {HotSku}, {Orders} orders -> {Confirmed} CONFIRMED ({HotUnitsConfirmed} hot units; " +
        $"expected {ExpectedConfirmed}), {InsufficientStock} FAILED INSUFFICIENT_STOCK, {HotAvailable} left, {Errors} errors" +
        (Problems.Count == 0 ? "" : Environment.NewLine + string.Join(Environment.NewLine, Problems.Select(p => "  " + p)));
}
