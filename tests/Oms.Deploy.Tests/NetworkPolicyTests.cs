using System.Text.Json.Nodes;
using static Oms.Deploy.Tests.Manifests;

namespace Oms.Deploy.Tests;

/// <summary>Who may connect to whom, by evaluating the rendered NetworkPolicies for every pod of the system.</summary>
public sealed class NetworkPolicyTests
{
    public static TheoryData<string> Folders => new(Base, Production);

    private static readonly Pod IngressController = new("the ingress controller", new Dictionary<string, string>(), "ingress-nginx");
    private static readonly Pod ElsewhereInTheCluster = new("a pod of another namespace", new Dictionary<string, string>(), "default");

    private static readonly Dictionary<string, int> PublicPorts = new() { ["orders"] = 8001, ["inventory"] = 8002, ["payments"] = 8003, ["console"] = 8000 };
    private static readonly Dictionary<string, int> InternalPorts = new() { ["inventory"] = 9002, ["payments"] = 9003 };
    private const int PostgresPort = 5432;
    private const int AmqpPort = 5672;

    /// <summary>Every pod in the namespace: ours by their templates' labels, the operators' by the labels they give.</summary>
    private static Dictionary<string, Pod> PodsOf(Manifests manifests)
    {
        var pods = manifests.PodTemplates().ToDictionary(
            t => t.Owner.Split('/')[1], t => new Pod(t.Owner, Labels(t.Pod["metadata"])));
        foreach (var cluster in manifests.OfKind("Cluster").Select(Name))
            pods[cluster] = new($"a {cluster} instance", new Dictionary<string, string> { ["cnpg.io/cluster"] = cluster, ["cnpg.io/podRole"] = "instance" });
        foreach (var broker in manifests.OfKind("RabbitmqCluster").Select(Name))
            pods[broker] = new($"a {broker} node", new Dictionary<string, string> { ["app.kubernetes.io/name"] = broker, ["app.kubernetes.io/component"] = "rabbitmq" });
        return pods;
    }

    [Theory, MemberData(nameof(Folders))]
    public void Everything_is_denied_unless_a_policy_allows_it(string folder)
    {
        var manifests = Of(folder);
        var deny = manifests.Get("NetworkPolicy", "default-deny")["spec"]!;
        Assert.Equal("{}", deny["podSelector"]!.ToJsonString());
        Assert.Equal(["Ingress", "Egress"], deny["policyTypes"]!.AsArray().Select(Str));
        Assert.Null(deny["ingress"]);
        Assert.Null(deny["egress"]);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        // Two services that have no business together: denied both ways.
        Assert.False(model.Allows(pods["inventory"], pods["payments"], PublicPorts["payments"]));
        Assert.False(model.Allows(pods["payments"], pods["inventory"], PublicPorts["inventory"]));
        Assert.False(model.Allows(ElsewhereInTheCluster, pods["orders"], PublicPorts["orders"]));
    }

    /// <summary>Both ends enforce the rule on their own: a mistake in one policy does not open the path.</summary>
    private static void AssertPath(NetworkModel model, string folder, Pod from, string toName, Pod to, int port, bool expected)
    {
        var what = $"{folder}: {from.Description} -> {toName}:{port}";
        Assert.True(model.IngressAllows(from, to, port) == expected, $"{what}: the destination's ingress policies should {(expected ? "allow" : "deny")} it");
        Assert.True(model.EgressAllows(from, to, port) == expected || from.Namespace is not null,
            $"{what}: the source's egress policies should {(expected ? "allow" : "deny")} it");
    }

    [Theory, MemberData(nameof(Folders))]
    public void Only_the_order_service_reaches_the_internal_ports(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        foreach (var (target, port) in InternalPorts)
        {
            foreach (var (name, pod) in pods.Where(p => p.Key != target))
                AssertPath(model, folder, pod, target, pods[target], port, expected: name == "orders");
            Assert.False(model.Allows(IngressController, pods[target], port));
            Assert.False(model.Allows(ElsewhereInTheCluster, pods[target], port));
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void Each_service_reaches_only_its_own_database(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        foreach (var database in Services.Select(s => $"{s}-db"))
        {
            var instance = pods[database];
            foreach (var (name, pod) in pods)
            {
                // Its service, its roles Job and its own instances (replication); nobody else.
                var expected = name == database[..^"-db".Length] || name == $"{database}-roles" || name == database;
                AssertPath(model, folder, pod, database, instance, PostgresPort, expected);
            }
            Assert.False(model.Allows(IngressController, instance, PostgresPort));
            Assert.False(model.Allows(ElsewhereInTheCluster, instance, PostgresPort));
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_console_reaches_the_public_apis_and_nothing_else(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        var console = pods["console"];
        foreach (var service in Services)
            Assert.True(model.Allows(console, pods[service], PublicPorts[service]), $"{folder}: console -> {service} denied");
        var everyPort = PublicPorts.Values.Concat(InternalPorts.Values).Append(PostgresPort).Append(AmqpPort).ToList();
        foreach (var (name, pod) in pods.Where(p => p.Key != "console"))
            foreach (var port in everyPort.Where(p => !(Services.Contains(name) && PublicPorts[name] == p)))
                Assert.False(model.EgressAllows(console, pod, port), $"{folder}: console -> {pod.Description}:{port} allowed");
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_ingress_controller_reaches_the_public_ports_only(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        foreach (var (name, port) in PublicPorts)
            Assert.True(model.Allows(IngressController, pods[name], port), $"{folder}: ingress -> {name}:{port} denied");
        foreach (var (name, port) in InternalPorts)
            Assert.False(model.Allows(IngressController, pods[name], port));
    }

    [Theory, MemberData(nameof(Folders))]
    public void Only_the_order_service_reaches_the_broker(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        var broker = pods[Name(manifests.OfKind("RabbitmqCluster").Single())];
        foreach (var (name, pod) in pods.Where(p => p.Value != broker))
            AssertPath(model, folder, pod, "the broker", broker, AmqpPort, expected: name == "orders");
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_order_service_reaches_what_the_saga_needs(string folder)
    {
        var manifests = Of(folder);
        var model = new NetworkModel(manifests);
        var pods = PodsOf(manifests);
        // The URLs it is configured with are the ones the policies open.
        var orders = Containers((JsonObject)manifests.Get("Deployment", "orders")["spec"]!["template"]!, withInit: false).Single();
        Assert.Equal($"http://inventory-internal:{InternalPorts["inventory"]}", Env(orders, "Saga__InventoryUrl"));
        Assert.Equal($"http://payments-internal:{InternalPorts["payments"]}", Env(orders, "Saga__PaymentUrl"));
        Assert.True(model.Allows(pods["orders"], pods["orders-db"], PostgresPort));
        Assert.True(model.Allows(pods["orders"], pods["inventory"], InternalPorts["inventory"]));
        Assert.True(model.Allows(pods["orders"], pods["payments"], InternalPorts["payments"]));
    }
}
