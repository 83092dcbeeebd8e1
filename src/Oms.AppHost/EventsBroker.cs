using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Oms.AppHost;

/// <summary>
/// The RabbitMQ broker the order service publishes its events to (ConnectionStrings:events, an AMQP URI), chosen
/// like PostgreSQL's server (OMS_RABBITMQ_MODE = auto | container | local | off): a container when a runtime answers
/// and the image is there, else a private node from the machine's rabbitmq-server binaries (<see cref="LocalRabbitMq"/>),
/// else none: the order service then runs with publishing off. Same ports in both modes, so the printed URLs and a
/// consumer's settings do not depend on the mode.
/// </summary>
internal sealed class EventsBroker
{
    private const string ContainerDataVolume = "oms-rabbitmq-data";

    private EventsBroker(string banner) => Banner = banner;

    /// <summary>The banner's line: where the broker runs, its AMQP and management URLs; or why there is none.</summary>
    public string Banner { get; }

    /// <summary>The node this run started or adopted (stopped by <see cref="StopAsync"/>), in local mode.</summary>
    public LocalRabbitMq? Local { get; private init; }

    private Func<IResourceBuilder<ProjectResource>, IResourceBuilder<ProjectResource>>? _reference;

    /// <summary>Gives the order service ConnectionStrings:events (nothing when there is no broker: publishing off).</summary>
    public IResourceBuilder<ProjectResource> ReferencedBy(IResourceBuilder<ProjectResource> service) => _reference?.Invoke(service) ?? service;

    public Task StopAsync() => Local?.StopAsync() ?? Task.CompletedTask;

    /// <summary>Adds the broker to the application (starting the local node now, in local mode). Throws
    /// <see cref="EventsBrokerException"/> when the requested mode cannot be honored.</summary>
    public static async Task<EventsBroker> AddAsync(IDistributedApplicationBuilder builder, string? runtime, string repoRoot)
    {
        var mode = (Environment.GetEnvironmentVariable("OMS_RABBITMQ_MODE") ?? "auto").Trim().ToLowerInvariant();
        if (mode is not ("auto" or "container" or "local" or "off"))
            throw new EventsBrokerException($"OMS_RABBITMQ_MODE must be auto, container, local or off (got '{mode}').");
        if (mode == "off")
            return new EventsBroker("off (OMS_RABBITMQ_MODE=off): no broker, the order service does not publish events");

        var amqpPort = IntFromEnvironment("OMS_RABBITMQ_PORT", 5673);
        var managementPort = IntFromEnvironment("OMS_RABBITMQ_MANAGEMENT_PORT", 15673);
        string? containerProblem = null;
        if (mode != "local")
        {
            if (runtime is null)
            {
                if (mode == "container")
                    throw new EventsBrokerException("OMS_RABBITMQ_MODE=container, but no container runtime answered (docker info / podman info).");
                containerProblem = "no container runtime";
            }
            else
            {
                var image = Environment.GetEnvironmentVariable("OMS_RABBITMQ_IMAGE") is { Length: > 0 } i ? i.Trim() : "rabbitmq:3.13-management";
                var pullTimeout = TimeSpan.FromSeconds(IntFromEnvironment("OMS_RABBITMQ_PULL_TIMEOUT", 60));
                if (await ContainerRuntime.EnsureImageAsync(runtime, image, pullTimeout) is not { } imageProblem)
                    return AddContainer(builder, image, amqpPort, managementPort);
                if (mode == "container")
                    throw new EventsBrokerException($"the RabbitMQ image {image} is not available: {imageProblem}");
                containerProblem = $"image {image} not available";
                Console.WriteLine($"[rabbitmq] The image {image} is not available ({imageProblem}): using a local node instead.");
            }
        }

        var binDir = LocalRabbitMq.FindBinDir();
        if (binDir is null)
        {
            if (mode == "local")
                throw new EventsBrokerException("OMS_RABBITMQ_MODE=local, but no RabbitMQ scripts were found in /usr/lib/rabbitmq/bin (sudo apt-get install rabbitmq-server; OMS_RABBITMQ_BIN overrides).");
            Console.WriteLine("[rabbitmq] No usable RabbitMQ container and no rabbitmq-server binaries: running without a broker (publishing off).");
            return new EventsBroker($"off: no broker ({containerProblem ?? "local mode"}, no rabbitmq-server binaries); the order service does not publish events");
        }

        var dir = Environment.GetEnvironmentVariable("OMS_RABBITMQ_DIR") is { Length: > 0 } d ? d : Path.Combine(repoRoot, ".data", "rabbitmq");
        var local = new LocalRabbitMq(binDir, dir, amqpPort, managementPort,
            distributionPort: IntFromEnvironment("OMS_RABBITMQ_DIST_PORT", amqpPort + 20000),
            epmdPort: IntFromEnvironment("OMS_RABBITMQ_EPMD_PORT", 4370));
        try
        {
            await local.StartAsync(CancellationToken.None);
        }
        catch (LocalRabbitMqException e)
        {
            await local.StopAsync();
            throw new EventsBrokerException($"the local RabbitMQ node did not start: {e.Message}\n(OMS_RABBITMQ_MODE=off runs without a broker.)");
        }
        return AddLocal(builder, local, containerProblem);
    }

    private static EventsBroker AddContainer(IDistributedApplicationBuilder builder, string image, int amqpPort, int managementPort)
    {
        var (imageName, imageTag) = ContainerRuntime.SplitImage(image);
        var user = builder.AddParameter("rabbitmq-user", LocalRabbitMq.UserName);
        // Generated once and kept in the AppHost's user secrets: the data volume keeps the user it was created with.
        var password = builder.AddParameter("rabbitmq-password",
            new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        var rabbit = builder.AddRabbitMQ("rabbitmq", user, password, amqpPort);
        // The plugin is in the official image's -management tags. Aspire's WithManagementPlugin accepts only its own
        // docker.io/library/rabbitmq annotation, so it comes before our image replaces it.
        var management = imageTag.Contains("management", StringComparison.Ordinal);
        if (management) rabbit.WithManagementPlugin(managementPort);
        rabbit.WithImageRegistry(null)
            .WithImage(imageName, imageTag)
            .WithDataVolume(ContainerDataVolume);
        Console.WriteLine($"[rabbitmq] RabbitMQ runs in a container ({image}, data volume '{ContainerDataVolume}').");
        var managementText = management
            ? $"management http://localhost:{managementPort}/ (user {LocalRabbitMq.UserName}; password: dotnet user-secrets list --project src/Oms.AppHost)"
            : "no management plugin in this image";
        return new EventsBroker($"RabbitMQ in a container ({image}): amqp://localhost:{amqpPort}, {managementText}")
        {
            _reference = service => service.WithReference(rabbit, connectionName: "events"),
        };
    }

    private static EventsBroker AddLocal(IDistributedApplicationBuilder builder, LocalRabbitMq local, string? containerProblem)
    {
        builder.Services.AddHealthChecks().AddAsyncCheck("rabbitmq-local", async ct =>
            await local.IsHealthyAsync(ct) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("RabbitMQ does not accept our AMQP login."));
        builder.AddResource(new LocalRabbitMqResource("rabbitmq"))
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "RabbitMQ (local)",
                State = new ResourceStateSnapshot(KnownResourceStates.Running, KnownResourceStateStyles.Success),
                StartTimeStamp = DateTime.UtcNow,
                Properties =
                [
                    new ResourcePropertySnapshot("AMQP port", local.AmqpPort),
                    new ResourcePropertySnapshot("Management", local.ManagementUrl),
                    new ResourcePropertySnapshot("Data folder", local.RootDir),
                    new ResourcePropertySnapshot("Log file", local.LogFile),
                ],
            })
            .WithUrl(local.ManagementUrl, "Management UI")
            .WithHealthCheck("rabbitmq-local");
        var password = builder.AddParameter("rabbitmq-password", local.Password, publishValueAsDefault: false, secret: true);
        var events = builder.AddConnectionString("events-amqp", ReferenceExpression.Create(
            $"amqp://{LocalRabbitMq.UserName}:{password}@127.0.0.1:{local.AmqpPort.ToString()}"));
        var why = containerProblem is null ? "" : $" ({containerProblem})";
        return new EventsBroker(
            $"RabbitMQ local node{why}: amqp://127.0.0.1:{local.AmqpPort}, management {local.ManagementUrl} " +
            $"(user {LocalRabbitMq.UserName}, password in {local.CredentialsFile})")
        {
            Local = local,
            _reference = service => service.WithReference(events, connectionName: "events"),
        };
    }

    private static int IntFromEnvironment(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) && value > 0 ? value : fallback;
}

public sealed class EventsBrokerException(string message) : Exception(message);

/// <summary>The private RabbitMQ node, shown in the dashboard; its lifetime is managed by <see cref="LocalRabbitMq"/>.</summary>
internal sealed class LocalRabbitMqResource(string name) : Resource(name);
