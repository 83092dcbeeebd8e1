using System.Collections;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Oms.AppHost;
using Oms.ServiceDefaults;

namespace Oms.AppHost.Tests;

/// <summary>
/// The console's API key as the AppHost works it out from its environment, and what the services then make of their
/// environment (the AppHost's plus the console's entry) through their own options binding and validation.
/// </summary>
public sealed class ConsoleApiKeyTests
{
    private static readonly string[] ShopScopes = ["orders:read", "orders:write", "stock:read", "stock:write"];

    [Fact]
    public void Without_API_keys_the_console_gets_none_and_the_services_get_nothing()
    {
        var key = ConsoleApiKey.From(new Hashtable { ["PATH"] = "/usr/bin", ["OMS_SERVICE_TOKEN"] = "token" });

        Assert.Null(key.Key);
        Assert.Empty(key.ServiceEnvironment);
        Assert.Contains("open", key.Banner);
    }

    [Fact]
    public void With_API_keys_a_generated_key_joins_them_with_the_consoles_scopes_and_the_services_accept_it()
    {
        // The README's two keys, one spelled in another case: configuration keys are case-insensitive.
        var environment = new Hashtable
        {
            ["Auth__ApiKeys__0__Name"] = "shop",
            ["Auth__ApiKeys__0__Hash"] = Sha256("shop-key"),
            ["Auth__ApiKeys__0__Scopes__0"] = string.Join(' ', ShopScopes),
            ["AUTH__APIKEYS__1__NAME"] = "reporting",
            ["AUTH__APIKEYS__1__HASH"] = Sha256("reporting-key"),
            ["AUTH__APIKEYS__1__SCOPES__0"] = "orders:read",
        };

        var key = ConsoleApiKey.From(environment);

        Assert.NotNull(key.Key);
        Assert.Equal(64, key.Key.Length);
        Assert.Contains("generated", key.Banner);
        Assert.All(key.ServiceEnvironment.Keys, k => Assert.StartsWith("Auth__ApiKeys__2__", k));

        var keys = ServiceApiKeys(environment, key.ServiceEnvironment);
        Assert.Equal(new[] { "shop", "reporting", "console" }, keys.Select(k => k.Name));
        var console = keys[2];
        Assert.Equal(Sha256(key.Key), console.Hash);
        Assert.Equal([.. ShopScopes, "payments:read"], console.Scopes.SelectMany(s => s.Split(' ')));
    }

    [Fact]
    public void Each_run_generates_another_key()
    {
        var environment = new Hashtable { ["Auth__ApiKeys__0__Name"] = "shop" };

        Assert.NotEqual(ConsoleApiKey.From(environment).Key, ConsoleApiKey.From(environment).Key);
    }

    [Fact]
    public void A_key_of_your_own_is_passed_on_and_nothing_is_added_to_the_services()
    {
        var environment = new Hashtable
        {
            ["Auth__ApiKeys__0__Name"] = "console",
            ["Auth__ApiKeys__0__Hash"] = Sha256("my-console-key"),
            ["Auth__ApiKeys__0__Scopes__0"] = string.Join(' ', ShopScopes),
            ["OMS_CONSOLE_API_KEY"] = " my-console-key ",
        };

        var key = ConsoleApiKey.From(environment);

        Assert.Equal("my-console-key", key.Key);
        Assert.Empty(key.ServiceEnvironment);
        Assert.Equal(new[] { "console" }, ServiceApiKeys(environment, key.ServiceEnvironment).Select(k => k.Name));
    }

    [Fact]
    public void A_configured_key_named_console_without_its_secret_is_refused_with_what_to_do()
    {
        var environment = new Hashtable { ["Auth__ApiKeys__0__Name"] = "console", ["Auth__ApiKeys__0__Hash"] = Sha256("k") };

        var refused = Assert.Throws<ConsoleApiKeyException>(() => ConsoleApiKey.From(environment));

        Assert.Contains("OMS_CONSOLE_API_KEY", refused.Message);
    }

    // What a service binds from its environment, validated as at its start (ValidateOnStart: it would refuse to run).
    private static IReadOnlyList<ApiKeyEntry> ServiceApiKeys(Hashtable inherited, IReadOnlyDictionary<string, string> added)
    {
        var variables = inherited.Cast<DictionaryEntry>().Select(e => KeyValuePair.Create((string)e.Key, (string?)e.Value))
            .Concat(added.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value)))
            .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":"), e.Value));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(variables).Build();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().Services
            .BuildServiceProvider();
        return services.GetRequiredService<IOptions<AuthOptions>>().Value.ApiKeys;
    }

    private static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
