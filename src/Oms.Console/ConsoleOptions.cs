using System.ComponentModel.DataAnnotations;

namespace Oms.Console;

/// <summary>Base URLs of the three services' public APIs (<c>Services</c> section).</summary>
public sealed class ServicesOptions
{
    public const string Section = "Services";

    [Required, Url] public string Orders { get; set; } = "";
    [Required, Url] public string Inventory { get; set; } = "";
    [Required, Url] public string Payments { get; set; } = "";
}

/// <summary>The <c>Console</c> section.</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>Sent as <c>Authorization: Bearer</c> to every service when set (the services' Auth:ApiKeys are on).</summary>
    public string? ApiKey { get; set; }

    /// <summary>How often the Overview re-reads the figures.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a page waits for a service (all attempts together) before it says the service is not answering:
    /// a person is looking at the page, so it gives up sooner than the services' own clients do.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan ServiceTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Rows per page on the lists (the APIs allow 1–500).</summary>
    [Range(1, 500)]
    public int PageSize { get; set; } = 50;
}
