using System.Text.Json.Nodes;
using static Oms.Deploy.Tests.Manifests;

namespace Oms.Deploy.Tests;

/// <summary>Services inside the cluster only; the Ingress serves the public APIs and the console over TLS.</summary>
public sealed class ExposureTests
{
    public static TheoryData<string> Folders => new(Base, Production);

    [Theory, MemberData(nameof(Folders))]
    public void Every_service_is_cluster_internal_and_the_internal_ports_speak_h2c(string folder)
    {
        var manifests = Of(folder);
        foreach (var service in manifests.OfKind("Service"))
        {
            Assert.Equal("ClusterIP", Str(service["spec"]!["type"]));
            Assert.Null(service["spec"]!["externalIPs"]);
        }
        foreach (var (name, port) in new[] { ("inventory", 9002), ("payments", 9003) })
        {
            var internalService = manifests.Get("Service", $"{name}-internal")["spec"]!;
            var internalPort = Items(internalService["ports"]).Single();
            Assert.Equal(port, Int(internalPort["port"]));
            Assert.Equal("kubernetes.io/h2c", Str(internalPort["appProtocol"]));
            // The container port the Service targets is the one the service listens on with InternalUrls.
            var container = Containers((JsonObject)manifests.Get("Deployment", name)["spec"]!["template"]!, withInit: false).Single();
            Assert.Equal($"http://+:{port}", Env(container, "InternalUrls"));
            Assert.Contains(Items(container["ports"]), p => Str(p["name"]) == Str(internalPort["targetPort"]) && Int(p["containerPort"]) == port);
            // The public Service does not carry the internal port.
            Assert.DoesNotContain(Items(manifests.Get("Service", name)["spec"]!["ports"]), p => Int(p["port"]) == port);
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_ingress_serves_the_three_public_apis_and_the_console_over_tls_only(string folder)
    {
        var manifests = Of(folder);
        var publicServices = new Dictionary<string, int> { ["orders"] = 8001, ["inventory"] = 8002, ["payments"] = 8003, ["console"] = 8000 };
        var routed = new HashSet<string>();
        foreach (var ingress in manifests.OfKind("Ingress"))
        {
            var spec = ingress["spec"]!;
            Assert.Equal("nginx", Str(spec["ingressClassName"]));
            var tlsHosts = Items(spec["tls"]).SelectMany(t => t["hosts"]!.AsArray().Select(Str)).ToHashSet();
            Assert.All(Items(spec["tls"]), t => Assert.False(string.IsNullOrEmpty(Str(t["secretName"]))));
            foreach (var rule in Items(spec["rules"]))
            {
                Assert.Contains(Str(rule["host"]), tlsHosts);
                foreach (var path in Items(rule["http"]!["paths"]))
                {
                    var backend = path["backend"]!["service"]!;
                    var serviceName = Str(backend["name"])!;
                    var service = manifests.Get("Service", serviceName);
                    var port = Items(service["spec"]!["ports"]).Single(p => Str(p["name"]) == Str(backend["port"]!["name"]));
                    // Only public ports behind the Ingress, never an internal one.
                    Assert.Equal(publicServices[serviceName], Int(port["port"]));
                    // The APIs' own paths: /health, /metrics and /docs are not published.
                    if (serviceName != "console") Assert.StartsWith("/api/v1/", Str(path["path"]));
                    routed.Add(serviceName);
                }
            }
            if (folder == Production)
            {
                Assert.NotNull(ingress["metadata"]!["annotations"]?["cert-manager.io/cluster-issuer"]);
                Assert.Equal("true", Str(ingress["metadata"]!["annotations"]?["nginx.ingress.kubernetes.io/force-ssl-redirect"]));
            }
        }
        Assert.Equal(publicServices.Keys.Order(), routed.Order());
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_console_is_behind_a_password_and_keeps_a_browser_on_one_replica(string folder)
    {
        var annotations = Of(folder).OfKind("Ingress")
            .Single(i => Items(i["spec"]!["rules"]).Any(r => Items(r["http"]!["paths"]).Any(p => Str(p["backend"]!["service"]!["name"]) == "console")))
            ["metadata"]!["annotations"]!;
        Assert.Equal("basic", Str(annotations["nginx.ingress.kubernetes.io/auth-type"]));
        Assert.Equal("oms-console-auth", Str(annotations["nginx.ingress.kubernetes.io/auth-secret"]));
        Assert.Equal("cookie", Str(annotations["nginx.ingress.kubernetes.io/affinity"]));
    }

    [Theory, MemberData(nameof(Folders))]
    public void Every_namespaced_object_is_in_the_oms_namespace(string folder)
    {
        var manifests = Of(folder);
        Assert.Equal("oms", Name(manifests.OfKind("Namespace").Single()));
        foreach (var o in manifests.Objects.Where(o => Str(o["kind"]) != "Namespace"))
            Assert.Equal("oms", Str(o["metadata"]!["namespace"]));
    }
}
