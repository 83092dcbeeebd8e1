using System.Collections;
using System.Security.Cryptography;
using System.Text;

namespace Oms.AppHost;

/// <summary>
/// The operator console's API key. The AppHost configures no API keys itself: the services inherit
/// <c>Auth__ApiKeys__*</c> from its environment (README, "API keys and rate limits"). While none is there the public
/// endpoints are open and the console needs no key. Once keys are configured the console gets
/// <c>OMS_CONSOLE_API_KEY</c> when set (its hash is then configured like any other key), else a key generated for this
/// run (so it never has to be written down anywhere), which is added to every service's keys under the name <see cref="Name"/> with the scopes the console uses.
/// </summary>
internal sealed class ConsoleApiKey
{
    public const string Name = "console";
    public const string EnvironmentVariable = "OMS_CONSOLE_API_KEY";

    /// <summary>What the console does: read and cancel orders, read, receive and correct stock, read an order's payment.</summary>
    public static readonly string[] Scopes = ["orders:read", "orders:write", "stock:read", "stock:write", "payments:read"];

    private const string Prefix = "Auth:ApiKeys:";

    private ConsoleApiKey(string? key, int? addedAtIndex, string banner)
    {
        (Key, Banner) = (key, banner);
        if (addedAtIndex is not { } index || key is null) return;
        var at = $"Auth__ApiKeys__{index}__";
        ServiceEnvironment = new Dictionary<string, string>
        {
            [at + "Name"] = Name,
            [at + "Hash"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))),
            [at + "Scopes__0"] = string.Join(' ', Scopes),
        };
    }

    /// <summary>The key the console sends as <c>Authorization: Bearer</c>; null while the endpoints are open.</summary>
    public string? Key { get; }

    /// <summary>What each service's environment gets on top of the AppHost's: the generated key's entry in
    /// <c>Auth:ApiKeys</c> (name, SHA-256, scopes); empty when no key is generated.</summary>
    public IReadOnlyDictionary<string, string> ServiceEnvironment { get; } = new Dictionary<string, string>();

    /// <summary>The banner's words on the console's access.</summary>
    public string Banner { get; }

    /// <summary>Reads the process environment; throws <see cref="ConsoleApiKeyException"/> when it cannot work out.</summary>
    public static ConsoleApiKey FromEnvironment() => From(Environment.GetEnvironmentVariables());

    internal static ConsoleApiKey From(IDictionary environment)
    {
        // Configuration keys are case-insensitive and "__" stands for ":" in environment variable names.
        var apiKeys = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry variable in environment)
        {
            var name = ((string)variable.Key).Replace("__", ":");
            if (name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
                apiKeys[name[Prefix.Length..]] = (string?)variable.Value ?? "";
        }
        // A key of your own is passed on even when no keys are in the environment: they may be in appsettings.json.
        if (environment[EnvironmentVariable] is string { Length: > 0 } given && given.Trim() is { Length: > 0 } own)
            return new ConsoleApiKey(own, null, $"API key from {EnvironmentVariable}");
        if (apiKeys.Count == 0)
            return new ConsoleApiKey(null, null, "no API key: none is configured, the public endpoints are open");

        var indices = apiKeys.Keys.Select(k => k.Split(':')[0]).Select(i => int.TryParse(i, out var n) ? n : -1).ToList();
        if (apiKeys.Any(k => k.Key.EndsWith(":Name", StringComparison.OrdinalIgnoreCase) && k.Value.Trim() == Name))
            throw new ConsoleApiKeyException($"an API key named '{Name}' is configured already: set {EnvironmentVariable} to that key, " +
                "so that the console uses it (or rename that key).");
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        return new ConsoleApiKey(key, indices.Max() + 1,
            $"API key '{Name}' generated for this run; {EnvironmentVariable} sets your own");
    }
}

internal sealed class ConsoleApiKeyException(string message) : Exception(message);
