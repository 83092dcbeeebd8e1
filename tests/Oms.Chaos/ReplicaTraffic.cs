using System.Globalization;

namespace Oms.Chaos;

/// <summary>
/// Requests a replica served, read from its Prometheus endpoint (<c>/metrics</c>, ASP.NET Core's
/// <c>http.server.request.duration</c> count by route). The counters restart with the process, so the runner reads a
/// replica just before each kill and once at the end, and adds them up: a lower bound, since a read that gets no answer
/// (a busy machine) loses what that replica served since its previous start.
/// </summary>
public static class ReplicaTraffic
{
    private const string CountMetric = "http_server_request_duration_seconds_count{";
    private static readonly HttpClient Scraper = new() { Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>Requests served on the routes <paramref name="counts"/> accepts; null when the replica did not answer.</summary>
    public static async Task<long?> ReadAsync(Uri replica, Func<string, bool> counts, CancellationToken ct)
    {
        try
        {
            return Sum(await Scraper.GetStringAsync(new Uri(replica, "/metrics"), ct), counts);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The sum of the request counts, in Prometheus' text format, whose <c>http_route</c> label <paramref name="counts"/> accepts.</summary>
    public static long Sum(string exposition, Func<string, bool> counts)
    {
        long total = 0;
        foreach (var line in exposition.Split('\n'))
        {
            if (!line.StartsWith(CountMetric, StringComparison.Ordinal)) continue;
            var labelsEnd = line.LastIndexOf('}');
            var route = Label(line.AsSpan(0, labelsEnd), "http_route");
            if (route is null || !counts(route)) continue;
            // The value follows the labels; a timestamp may follow it.
            var value = line[(labelsEnd + 1)..].Trim().Split(' ')[0];
            total += (long)double.Parse(value, CultureInfo.InvariantCulture);
        }
        return total;
    }

    private static string? Label(ReadOnlySpan<char> labels, string name)
    {
        var key = $"{name}=\"";
        var start = labels.IndexOf(key, StringComparison.Ordinal);
        if (start < 0) return null;
        var rest = labels[(start + key.Length)..];
        var end = rest.IndexOf('"');
        return end < 0 ? null : rest[..end].ToString();
    }
}
