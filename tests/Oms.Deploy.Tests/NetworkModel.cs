using System.Text.Json.Nodes;
using static Oms.Deploy.Tests.Manifests;

namespace Oms.Deploy.Tests;

/// <summary>A pod by its labels, in the namespace of the manifests or (<see cref="Namespace"/>) in another one.</summary>
public sealed record Pod(string Description, IReadOnlyDictionary<string, string> Labels, string? Namespace = null);

/// <summary>
/// What the rendered NetworkPolicies allow, by Kubernetes' rules: a connection needs an ingress rule of some policy
/// that selects the destination (unless none selects it for ingress) and an egress rule of some policy that selects
/// the source (likewise). An ipBlock is taken to match every pod (some network plugins do so).
/// </summary>
public sealed class NetworkModel(Manifests manifests)
{
    private readonly List<JsonObject> policies = [.. manifests.OfKind("NetworkPolicy")];

    public bool Allows(Pod from, Pod to, int port) => EgressAllows(from, to, port) && IngressAllows(from, to, port);

    /// <summary>What the source's egress policies alone allow (pods of other namespaces are not ours to check).</summary>
    public bool EgressAllows(Pod from, Pod to, int port) => from.Namespace is not null || Allowed(from, "Egress", "egress", "to", to, port);

    /// <summary>What the destination's ingress policies alone allow.</summary>
    public bool IngressAllows(Pod from, Pod to, int port) => to.Namespace is not null || Allowed(to, "Ingress", "ingress", "from", from, port);

    private bool Allowed(Pod subject, string type, string rulesKey, string peersKey, Pod peer, int port)
    {
        var selecting = policies.Where(p => PolicyTypes(p).Contains(type) && Matches(p["spec"]!["podSelector"], subject.Labels)).ToList();
        if (selecting.Count == 0) return true;
        return selecting.Any(p => Items(p["spec"]![rulesKey]).Any(rule =>
            (rule[peersKey] is null || Items(rule[peersKey]).Any(peerSpec => PeerMatches(peerSpec, peer)))
            && (rule["ports"] is null || Items(rule["ports"]).Any(ps => Int(ps["port"]) == port))));
    }

    private static IEnumerable<string> PolicyTypes(JsonObject policy) =>
        policy["spec"]!["policyTypes"]?.AsArray().Select(t => Str(t)!) ?? ["Ingress"];

    private static bool PeerMatches(JsonObject peer, Pod pod)
    {
        if (peer["ipBlock"] is not null) return true;
        if (peer["namespaceSelector"] is { } namespaces)
            return pod.Namespace is not null && Matches(namespaces, new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = pod.Namespace })
                && (peer["podSelector"] is not { } selector || Matches(selector, pod.Labels));
        return pod.Namespace is null && Matches(peer["podSelector"], pod.Labels);
    }

    private static bool Matches(JsonNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector?["matchExpressions"] is not null) throw new NotSupportedException("matchExpressions: extend the model");
        return selector?["matchLabels"]?.AsObject().All(p => labels.TryGetValue(p.Key, out var v) && v == Str(p.Value)) ?? true;
    }
}
