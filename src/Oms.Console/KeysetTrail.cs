namespace Oms.Console;

/// <summary>
/// Keyset paging back and forth. The APIs page forward only (<c>after</c>), so the URL carries the cursors of the pages
/// before this one (<c>prev</c>, comma-separated; cursors are base64url or SKUs, which hold no comma): "Newer" pops one.
/// </summary>
public sealed record KeysetTrail(string? After, string? Prev)
{
    private IReadOnlyList<string> Earlier => string.IsNullOrEmpty(Prev) ? [] : Prev.Split(',');

    public bool HasNewer => !string.IsNullOrEmpty(After);

    /// <summary>(after, prev) of the page after this one.</summary>
    public (string After, string? Prev) Next(string next) =>
        (next, HasNewer ? string.Join(',', Earlier.Append(After!)) : null);

    /// <summary>(after, prev) of the page before this one; after is null for the first page.</summary>
    public (string? After, string? Prev) Newer()
    {
        var earlier = Earlier;
        return earlier.Count == 0 ? (null, null) : (earlier[^1], earlier.Count == 1 ? null : string.Join(',', earlier.Take(earlier.Count - 1)));
    }
}
