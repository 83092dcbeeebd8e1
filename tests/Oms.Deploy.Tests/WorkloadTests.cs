using System.Text.Json.Nodes;
using static Oms.Deploy.Tests.Manifests;

namespace Oms.Deploy.Tests;

/// <summary>The Deployments, Jobs and their pods: replicas, probes, resources, security, migrations.</summary>
public sealed class WorkloadTests
{
    public static TheoryData<string> Folders => new(Base, Production);

    private static readonly string[] Deployments = [.. Services, "console"];

    [Theory, MemberData(nameof(Folders))]
    public void Every_deployment_runs_at_least_two_replicas_with_probes_on_the_health_endpoints(string folder)
    {
        var manifests = Of(folder);
        Assert.Equal(Deployments.Order(), manifests.OfKind("Deployment").Select(Name).Order());
        foreach (var name in Deployments)
        {
            var deployment = manifests.Get("Deployment", name);
            Assert.True(MinimumReplicas(manifests, name) >= 2, $"{folder}: {name} may run fewer than 2 replicas");
            var container = Containers((JsonObject)deployment["spec"]!["template"]!, withInit: false).Single();
            var ports = Items(container["ports"]).Select(p => Str(p["name"])).ToHashSet();
            foreach (var (probe, path) in new[] { ("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready"), ("startupProbe", "/health/live") })
            {
                var get = container[probe]?["httpGet"] ?? throw new Xunit.Sdk.XunitException($"{folder}: {name} has no {probe}");
                Assert.Equal(path, Str(get["path"]));
                // The public HTTP/1.1 port: the kubelet's probes do not speak h2c.
                Assert.Equal("http", Str(get["port"]));
                Assert.Contains("http", ports);
            }
        }
    }

    /// <summary>The autoscaler's minimum where one scales the Deployment (which then names no count), else its replicas.</summary>
    private static int MinimumReplicas(Manifests manifests, string deployment)
    {
        var hpa = manifests.OfKind("HorizontalPodAutoscaler").SingleOrDefault(h => Str(h["spec"]!["scaleTargetRef"]!["name"]) == deployment);
        var replicas = manifests.Get("Deployment", deployment)["spec"]!["replicas"];
        if (hpa is null) return Int(replicas);
        // A count in the Deployment would be re-applied over the autoscaler's by every kubectl apply.
        Assert.Null(replicas);
        return Int(hpa["spec"]!["minReplicas"]);
    }

    [Theory, MemberData(nameof(Folders))]
    public void Every_service_drains_before_it_stops(string folder)
    {
        var manifests = Of(folder);
        foreach (var name in Deployments)
        {
            var pod = (JsonObject)manifests.Get("Deployment", name)["spec"]!["template"]!;
            var container = Containers(pod, withInit: false).Single();
            var preStop = container["lifecycle"]?["preStop"]?["exec"]?["command"]?.AsArray().Select(Str).ToArray()
                ?? throw new Xunit.Sdk.XunitException($"{folder}: {name} has no preStop pause");
            Assert.Equal("sleep", preStop[0]);
            var grace = TimeSpan.FromSeconds(Int(pod["spec"]!["terminationGracePeriodSeconds"]));
            // The services' own shutdown (ShutdownTimeout) must fit in what is left of the grace period after the pause.
            if (Env(container, "ShutdownTimeout") is { } shutdown)
                Assert.True(TimeSpan.FromSeconds(int.Parse(preStop[1]!)) + TimeSpan.Parse(shutdown) < grace,
                    $"{folder}: {name}: preStop {preStop[1]} s + ShutdownTimeout {shutdown} do not fit in {grace}");
            else Assert.DoesNotContain(name, Services);
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void Every_container_has_cpu_and_memory_requests_and_limits(string folder)
    {
        foreach (var (owner, pod) in Of(folder).PodTemplates())
            foreach (var container in Containers(pod))
                foreach (var bound in new[] { "requests", "limits" })
                    foreach (var resource in new[] { "cpu", "memory" })
                        Assert.False(container["resources"]?[bound]?[resource] is null,
                            $"{folder}: {owner} container {Str(container["name"])} has no {bound}.{resource}");
    }

    [Theory, MemberData(nameof(Folders))]
    public void Every_pod_runs_as_non_root_on_a_read_only_root_filesystem_with_a_writable_tmp(string folder)
    {
        foreach (var (owner, pod) in Of(folder).PodTemplates())
        {
            var spec = pod["spec"]!;
            Assert.True(Bool(spec["securityContext"]?["runAsNonRoot"]), $"{folder}: {owner} may run as root");
            Assert.NotEqual(0, Int(spec["securityContext"]?["runAsUser"]));
            Assert.Equal("RuntimeDefault", Str(spec["securityContext"]?["seccompProfile"]?["type"]));
            Assert.Equal("false", Str(spec["automountServiceAccountToken"]));
            var emptyDirs = Items(spec["volumes"]).Where(v => v["emptyDir"] is not null).Select(v => Str(v["name"])).ToHashSet();
            foreach (var container in Containers(pod))
            {
                var what = $"{folder}: {owner} container {Str(container["name"])}";
                var security = container["securityContext"];
                Assert.True(Bool(security?["readOnlyRootFilesystem"]), $"{what}: root filesystem not read-only");
                Assert.Equal("false", Str(security?["allowPrivilegeEscalation"]));
                Assert.Equal(["ALL"], security?["capabilities"]?["drop"]?.AsArray().Select(Str) ?? []);
                Assert.Contains(Items(container["volumeMounts"]), m => Str(m["mountPath"]) == "/tmp" && emptyDirs.Contains(Str(m["name"])));
            }
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void Migrations_run_in_an_init_container_as_the_owner_role_and_the_service_holds_only_the_runtime_role(string folder)
    {
        var manifests = Of(folder);
        foreach (var service in Services)
        {
            var pod = (JsonObject)manifests.Get("Deployment", service)["spec"]!["template"]!;
            var main = Containers(pod, withInit: false).Single();
            var migrate = Items(pod["spec"]!["initContainers"]).Single();
            Assert.Equal(Str(main["image"]), Str(migrate["image"]));
            Assert.Equal([Oms.Database.MigrationCommand.Name], migrate["args"]!.AsArray().Select(Str));

            var owner = Env(migrate, $"ConnectionStrings__{service}_owner")!;
            Assert.Contains($"Host={service}-db-rw;", owner);
            Assert.Contains($"Username={service}_owner;", owner);
            Assert.Contains(Items(migrate["env"]), e => Str(e["valueFrom"]?["secretKeyRef"]?["name"]) == $"{service}-db-owner");

            var runtime = Env(main, $"ConnectionStrings__{service}")!;
            Assert.Contains($"Host={service}-db-rw;", runtime);
            Assert.Contains($"Username={service};", runtime);
            Assert.Contains("SSL Mode=VerifyFull", runtime);
            Assert.Equal("false", Env(main, $"{Oms.Database.MigrationOptions.Section}__{nameof(Oms.Database.MigrationOptions.OnStart)}"));
            Assert.Null(Env(main, $"ConnectionStrings__{service}_owner"));
            Assert.DoesNotContain(Items(main["env"]), e => Str(e["valueFrom"]?["secretKeyRef"]?["name"]) == $"{service}-db-owner");
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void Each_service_has_an_autoscaler_and_a_disruption_budget_that_lets_a_drain_proceed(string folder)
    {
        var manifests = Of(folder);
        foreach (var service in Services)
        {
            var deployment = manifests.Get("Deployment", service);
            var hpa = manifests.Get("HorizontalPodAutoscaler", service)["spec"]!;
            Assert.Equal("Deployment", Str(hpa["scaleTargetRef"]!["kind"]));
            Assert.Equal(service, Str(hpa["scaleTargetRef"]!["name"]));
            var min = Int(hpa["minReplicas"]);
            Assert.True(min >= 2, $"{folder}: {service} may scale below 2");
            Assert.True(Int(hpa["maxReplicas"]) > min);
            Assert.Null(deployment["spec"]!["replicas"]);
            Assert.Contains(Items(hpa["metrics"]), m => Str(m["resource"]?["name"]) == "cpu");
        }
        foreach (var name in Deployments)
        {
            var deployment = manifests.Get("Deployment", name);
            var pdb = manifests.Get("PodDisruptionBudget", name)["spec"]!;
            Assert.Equal(deployment["spec"]!["selector"]!.ToJsonString(), pdb["selector"]!.ToJsonString());
            var minAvailable = Int(pdb["minAvailable"]);
            Assert.InRange(minAvailable, 1, MinimumReplicas(manifests, name) - 1);
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void Every_replica_pool_fits_its_database_at_the_autoscalers_maximum(string folder)
    {
        var manifests = Of(folder);
        // superuser_reserved_connections' default: the operator's and the roles Job's superuser sessions.
        const int reservedForSuperusers = 3;
        foreach (var service in Services)
        {
            var runtime = Env(Containers((JsonObject)manifests.Get("Deployment", service)["spec"]!["template"]!, withInit: false).Single(),
                $"ConnectionStrings__{service}")!;
            var pool = int.Parse(runtime.Split(';').Single(p => p.StartsWith("Maximum Pool Size=", StringComparison.Ordinal)).Split('=')[1]);
            var maxReplicas = Int(manifests.Get("HorizontalPodAutoscaler", service)["spec"]!["maxReplicas"]);
            var maxConnections = Int(manifests.Get("Cluster", $"{service}-db")["spec"]!["postgresql"]!["parameters"]!["max_connections"]);
            // Each replica's migrate init container adds one more while it runs (a rollout surges by one).
            Assert.True((maxReplicas + 1) * pool + 1 + reservedForSuperusers <= maxConnections,
                $"{folder}: {service}: {maxReplicas + 1} replicas x {pool} connections do not fit max_connections {maxConnections}");
        }
    }

    [Fact]
    public void Production_runs_released_images_from_a_registry_with_a_version_tag()
    {
        foreach (var (owner, pod) in Of(Production).PodTemplates())
            foreach (var container in Containers(pod))
            {
                var image = Str(container["image"])!;
                var tag = image.Contains(':') ? image[(image.LastIndexOf(':') + 1)..] : "";
                Assert.False(tag is "" or "latest", $"{owner}: image {image} has no version tag");
                if (owner.StartsWith("Deployment/", StringComparison.Ordinal))
                    Assert.StartsWith("registry.example.com/oms/", image);
            }
    }
}
