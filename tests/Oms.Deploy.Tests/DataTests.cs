using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using static Oms.Deploy.Tests.Manifests;

namespace Oms.Deploy.Tests;

/// <summary>The databases (CloudNativePG), their roles, the broker, and the Secrets.</summary>
public sealed class DataTests
{
    public static TheoryData<string> Folders => new(Base, Production);

    /// <summary>Secrets that operators or cert-manager make; the manifests refer to them without defining them.</summary>
    private static bool MadeByAnOperator(string secret) =>
        secret.EndsWith("-db-ca", StringComparison.Ordinal) || secret == "oms-events-default-user" || secret.EndsWith("-tls", StringComparison.Ordinal);

    [Theory, MemberData(nameof(Folders))]
    public void Each_service_has_its_own_postgresql_cluster_with_a_standby_and_its_owner_role(string folder)
    {
        var manifests = Of(folder);
        Assert.Equal(Services.Select(s => $"{s}-db").Order(), manifests.OfKind("Cluster").Select(Name).Order());
        foreach (var service in Services)
        {
            var spec = manifests.Get("Cluster", $"{service}-db")["spec"]!;
            Assert.Equal("postgresql.cnpg.io/v1", Str(manifests.Get("Cluster", $"{service}-db")["apiVersion"]));
            Assert.True(Int(spec["instances"]) >= 2, $"{folder}: {service}-db has no standby");
            var initdb = spec["bootstrap"]!["initdb"]!;
            Assert.Equal(service, Str(initdb["database"]));
            Assert.Equal($"{service}_owner", Str(initdb["owner"]));
            Assert.Equal($"{service}-db-owner", Str(initdb["secret"]!["name"]));
            Assert.Equal($"{service}-db-superuser", Str(spec["superuserSecret"]!["name"]));
            // The instances on different nodes: a node lost is not the database lost.
            Assert.Equal("true", Str(spec["affinity"]!["enablePodAntiAffinity"]));
            Assert.Equal("kubernetes.io/hostname", Str(spec["affinity"]!["topologyKey"]));
            Assert.Equal(folder == Production ? "required" : "preferred", Str(spec["affinity"]!["podAntiAffinityType"]));
            // A failover must not lose an acknowledged commit: a standby confirms each one.
            var synchronous = spec["postgresql"]!["synchronous"]!;
            Assert.True(Int(synchronous["number"]) >= 1);
            Assert.Equal(folder == Production ? "required" : "preferred", Str(synchronous["dataDurability"]));
            // "required" with one standby would stop all writes whenever it is down.
            if (Str(synchronous["dataDurability"]) == "required") Assert.True(Int(spec["instances"]) - 1 > Int(synchronous["number"]));
        }
        if (folder == Production)
            Assert.All(manifests.OfKind("Cluster"), c => Assert.NotNull(c["spec"]!["backup"]?["barmanObjectStore"]));
    }

    [Theory, MemberData(nameof(Folders))]
    public void A_job_per_database_provisions_the_runtime_role_with_the_same_script_as_compose(string folder)
    {
        var manifests = Of(folder);
        var configMap = manifests.OfKind("ConfigMap").Single(c => Name(c).StartsWith("postgres-roles", StringComparison.Ordinal));
        foreach (var file in new[] { "init-roles.sh", "provision-roles.sql" })
            Assert.Equal(File.ReadAllText(Path.Combine(RepositoryRoot, "deploy/postgres", file)), Str(configMap["data"]![file]));
        foreach (var service in Services)
        {
            var pod = (JsonObject)manifests.Get("Job", $"{service}-db-roles")["spec"]!["template"]!;
            var container = Containers(pod).Single();
            Assert.Contains("bash /oms/init-roles.sh", Str(container["args"]![0]));
            // The operator's own roles keep the maintenance database that provision-roles.sql closes to PUBLIC.
            Assert.Contains("GRANT CONNECT ON DATABASE postgres", Str(container["args"]![0]));
            Assert.Equal($"{service}-db-rw", Env(container, "PGHOST"));
            Assert.Equal(service, Env(container, "OMS_DATABASES"));
            Assert.Equal("verify-full", Env(container, "PGSSLMODE"));
            string? SecretOf(string env) => Items(container["env"]).Where(e => Str(e["name"]) == env)
                .Select(e => Str(e["valueFrom"]?["secretKeyRef"]?["name"])).SingleOrDefault();
            Assert.Equal($"{service}-db-superuser", SecretOf("PGPASSWORD"));
            Assert.Equal($"{service}-db-owner", SecretOf($"{service.ToUpperInvariant()}_DB_OWNER_PASSWORD"));
            Assert.Equal($"{service}-db-runtime", SecretOf($"{service.ToUpperInvariant()}_DB_PASSWORD"));
            Assert.Contains(Items(pod["spec"]!["volumes"]), v => Str(v["configMap"]?["name"]) == Name(configMap));
        }
    }

    [Theory, MemberData(nameof(Folders))]
    public void The_order_service_publishes_to_a_broker_of_the_cluster_operator(string folder)
    {
        var manifests = Of(folder);
        var broker = manifests.OfKind("RabbitmqCluster").Single();
        Assert.Equal("rabbitmq.com/v1beta1", Str(broker["apiVersion"]));
        var orders = Containers((JsonObject)manifests.Get("Deployment", "orders")["spec"]!["template"]!, withInit: false).Single();
        Assert.StartsWith("amqp://", Env(orders, "ConnectionStrings__events"));
        Assert.EndsWith($"@{Name(broker)}:5672", Env(orders, "ConnectionStrings__events"));
        Assert.Contains(Items(orders["env"]), e => Str(e["valueFrom"]?["secretKeyRef"]?["name"]) == $"{Name(broker)}-default-user");
        if (folder == Production) Assert.True(Int(broker["spec"]!["replicas"]) >= 3);
    }

    /// <summary>Every Secret a manifest names: env, envFrom, volumes, CloudNativePG, the Ingress (TLS, basic auth).</summary>
    private static HashSet<string> ReferencedSecrets(Manifests manifests)
    {
        var names = new HashSet<string>();
        void Walk(JsonNode? node, string? key)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o)
                    {
                        if (k is "secretName" || (k == "name" && key is "secretKeyRef" or "secretRef" or "secret" or "superuserSecret"
                                or "accessKeyId" or "secretAccessKey"))
                            names.Add(Str(v)!);
                        else Walk(v, k);
                    }
                    break;
                case JsonArray a:
                    foreach (var item in a) Walk(item, key);
                    break;
            }
        }
        foreach (var o in manifests.Objects.Where(o => Str(o["kind"]) != "Secret"))
        {
            Walk(o["spec"], null);
            if (Str(o["metadata"]!["annotations"]?["nginx.ingress.kubernetes.io/auth-secret"]) is { } auth) names.Add(auth);
        }
        return names;
    }

    [Fact]
    public void The_base_defines_every_secret_it_uses_with_placeholders_only()
    {
        var manifests = Of(Base);
        var secrets = manifests.OfKind("Secret").ToDictionary(Name, s => s["data"]!.AsObject()
            .ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(Convert.FromBase64String(Str(p.Value)!))));
        foreach (var name in ReferencedSecrets(manifests).Where(n => !MadeByAnOperator(n)))
            Assert.True(secrets.ContainsKey(name), $"Secret {name} is used but not defined in the base");
        foreach (var (name, data) in secrets)
            foreach (var (key, value) in data.Where(p => p.Key is "password" or "token" or "key"))
                Assert.StartsWith("change-me", value);
        // The services accept the console's key: its hash is configured with the scopes the console needs.
        var keys = secrets["oms-api-keys"];
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secrets["oms-console-api-key"]["key"]))), keys["Auth__ApiKeys__0__Hash"]);
        Assert.Equal(["orders:read", "orders:write", "payments:read", "stock:read", "stock:write"], keys["Auth__ApiKeys__0__Scopes"].Split(' ').Order());
        // The roles CloudNativePG reads from the basic-auth Secrets are the ones the connection strings use.
        foreach (var service in Services)
        {
            Assert.Equal($"{service}_owner", secrets[$"{service}-db-owner"]["username"]);
            Assert.Equal(service, secrets[$"{service}-db-runtime"]["username"]);
            Assert.Equal("postgres", secrets[$"{service}-db-superuser"]["username"]);
        }
    }

    [Fact]
    public void Production_deploys_no_secret_from_git_and_the_readme_says_how_to_make_each_one_it_uses()
    {
        var manifests = Of(Production);
        Assert.Empty(manifests.OfKind("Secret"));
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        foreach (var name in ReferencedSecrets(manifests).Where(n => !MadeByAnOperator(n)))
            Assert.True(readme.Contains($"secret generic {name} ", StringComparison.Ordinal)
                // The README makes the databases' Secrets in a loop over the three: "$db-db-owner" and so on.
                || (Services.FirstOrDefault(s => name.StartsWith($"{s}-db-", StringComparison.Ordinal)) is { } service
                    && readme.Contains($"secret generic $db-db-{name[$"{service}-db-".Length..]} ", StringComparison.Ordinal)
                    && readme.Contains("for db in orders inventory payments; do", StringComparison.Ordinal)),
                $"README.md does not say how to create the Secret {name} (kubectl create secret generic {name} ...)");
    }
}
