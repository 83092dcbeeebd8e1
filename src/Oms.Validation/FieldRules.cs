using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;

namespace Oms.Validation;

/// <summary>A rule judged on a field's JSON text rather than on the value it binds to.</summary>
public interface IJsonTextRule
{
    /// <summary>The message when <paramref name="value"/> breaks the rule; null when it keeps it.</summary>
    string? Check(JsonElement value);
}

// The rules derive from the DataAnnotations attributes that OpenAPI reads (pattern, minimum, maximum), so the
// document shows them too; IsValid is the contract's own check.

/// <summary>A SKU: 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class SkuAttribute() : RegularExpressionAttribute("^[A-Za-z0-9._-]{1,64}$")
{
    public override bool IsValid(object? value) => value is string sku && Rules.IsValidSku(sku);
    public override string FormatErrorMessage(string name) => Rules.SkuRule;
}

/// <summary>An idempotency key: 1-255 printable ASCII characters.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class IdempotencyKeyAttribute() : RegularExpressionAttribute("^[\\x20-\\x7E]{1,255}$")
{
    public override bool IsValid(object? value) => value is null || (value is string key && Rules.IsValidIdempotencyKey(key));
    public override string FormatErrorMessage(string name) => Rules.KeyRule;
}

/// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class BetweenAttribute(long min, long max) : RangeAttribute(min, max)
{
    public long Min { get; } = min;
    public long Max { get; } = max;

    public override bool IsValid(object? value) => value switch
    {
        null => true,
        long n => n >= Min && n <= Max,
        _ => Convert.ToInt64(value, CultureInfo.InvariantCulture) is var n && n >= Min && n <= Max,
    };

    public override string FormatErrorMessage(string name) => $"must be between {Min} and {Max}.";
}

/// <summary>
/// Money: a number in [0, <paramref name="max"/>] with at most two decimal places, judged on the number's text
/// (decimal parsing rounds past 28 digits: 999.9999999999999999999999999999 would become 1000).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class MoneyAttribute(long max) : RangeAttribute(0d, max), IJsonTextRule
{
    public long Max { get; } = max;

    public override bool IsValid(object? value) => value is null || (value is decimal amount && amount >= 0 && amount <= Max);

    public override string FormatErrorMessage(string name) => $"must be between 0 and {Max}.";

    public string? Check(JsonElement value) =>
        Rules.DecimalPlaces(value.GetRawText()) > 2 ? "must have at most 2 decimal places." : null;
}
