using System.Globalization;

namespace Oms.Console;

/// <summary>How the console words the services' codes and figures for people.</summary>
public static class Display
{
    private static readonly Dictionary<string, string> FailureReasons = new()
    {
        ["INSUFFICIENT_STOCK"] = "Not enough stock for one of the lines",
        ["UNKNOWN_ITEM"] = "One of the lines names an item the inventory does not know",
        ["PAYMENT_DECLINED"] = "The payment was declined",
        ["INVENTORY_UNAVAILABLE"] = "The inventory service could not be reached",
        ["PAYMENT_UNAVAILABLE"] = "The payment service could not be reached",
    };

    public static readonly IReadOnlyList<string> OrderStatuses = ["PENDING", "CONFIRMED", "FAILED", "CANCELLED"];

    /// <summary>A reason code in words; a code this console does not know yet is shown as sent.</summary>
    public static string FailureReason(string? code) =>
        code is null ? "—" : FailureReasons.TryGetValue(code, out var words) ? words : code;

    public static string Time(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    public static string Age(double? seconds)
    {
        if (seconds is not { } s) return "none";
        var age = TimeSpan.FromSeconds(Math.Max(0, s));
        return age.TotalMinutes < 1 ? $"{age.Seconds} s"
            : age.TotalHours < 1 ? $"{age.Minutes} min {age.Seconds} s"
            : $"{(int)age.TotalHours} h {age.Minutes} min";
    }

    public static string Money(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
