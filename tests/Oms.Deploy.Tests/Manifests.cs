using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Oms.Deploy.Tests;

/// <summary>
/// The objects that <c>kubectl kustomize</c> renders from a folder of deploy/k8s, as JSON trees (every scalar a string,
/// as YAML gives it: <see cref="Int"/> and friends read them).
/// </summary>
public sealed class Manifests
{
    public const string Base = "deploy/k8s/base";
    public const string Production = "deploy/k8s/overlays/production";

    /// <summary>The three services, each with its own database (named like the service).</summary>
    public static readonly string[] Services = ["orders", "inventory", "payments"];

    private static readonly Dictionary<string, Lazy<Manifests>> Rendered = new()
    {
        [Base] = new(() => Render(Base)),
        [Production] = new(() => Render(Production)),
    };

    public static Manifests Of(string folder) => Rendered[folder].Value;

    public string Folder { get; }
    public IReadOnlyList<JsonObject> Objects { get; }

    private Manifests(string folder, IReadOnlyList<JsonObject> objects) => (Folder, Objects) = (folder, objects);

    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => Str(o["kind"]) == kind);

    public JsonObject Get(string kind, string name) =>
        OfKind(kind).SingleOrDefault(o => Name(o) == name)
        ?? throw new Xunit.Sdk.XunitException($"{Folder}: no {kind} named {name}.");

    /// <summary>Every pod template: of the Deployments and the Jobs.</summary>
    public IEnumerable<(string Owner, JsonObject Pod)> PodTemplates() =>
        OfKind("Deployment").Concat(OfKind("Job")).Select(o => ($"{Str(o["kind"])}/{Name(o)}", (JsonObject)o["spec"]!["template"]!));

    public static string Name(JsonNode o) => Str(o["metadata"]!["name"])!;
    public static string? Str(JsonNode? node) => node?.GetValue<string>();
    public static int Int(JsonNode? node) => int.Parse(Str(node) ?? throw new Xunit.Sdk.XunitException("missing number"));
    public static bool Bool(JsonNode? node) => Str(node) == "true";
    public static IEnumerable<JsonObject> Items(JsonNode? array) => array?.AsArray().Select(n => (JsonObject)n!) ?? [];

    public static IEnumerable<JsonObject> Containers(JsonObject pod, bool withInit = true) =>
        Items(pod["spec"]!["containers"]).Concat(withInit ? Items(pod["spec"]!["initContainers"]) : []);

    public static string? Env(JsonObject container, string name) =>
        Items(container["env"]).Where(e => Str(e["name"]) == name).Select(e => Str(e["value"])).SingleOrDefault();

    public static IReadOnlyDictionary<string, string> Labels(JsonNode? metadata) =>
        metadata?["labels"]?.AsObject().ToDictionary(p => p.Key, p => Str(p.Value)!) ?? new Dictionary<string, string>();

    /// <summary>The repository's root: the folder holding Oms.slnx, above the test assembly.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Oms.slnx"))) return dir.FullName;
            throw new DirectoryNotFoundException("Oms.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    private static Manifests Render(string folder)
    {
        var kubectl = Environment.GetEnvironmentVariable("KUBECTL") is { Length: > 0 } path ? path : "kubectl";
        var start = new ProcessStartInfo(kubectl, ["kustomize", Path.Combine(RepositoryRoot, folder)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"'{kubectl}' could not be started ({e.Message}): these tests need kubectl (its built-in kustomize) on PATH, "
                + "or its path in KUBECTL. .ci/run installs it when missing.", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"kubectl kustomize {folder} did not finish within a minute.");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"kubectl kustomize {folder} failed ({process.ExitCode}): {stderr.Result}");
            var yaml = new YamlStream();
            yaml.Load(new StringReader(stdout.Result));
            return new Manifests(folder, [.. yaml.Documents.Select(d => (JsonObject)ToJson(d.RootNode)!)]);
        }
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p =>
            KeyValuePair.Create(((YamlScalarNode)p.Key).Value!, ToJson(p.Value)))),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
        YamlScalarNode scalar => scalar.Value is null ? null : JsonValue.Create(scalar.Value),
        _ => throw new NotSupportedException(node.GetType().Name),
    };
}
