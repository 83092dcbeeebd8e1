using System.Net;
using System.Net.Sockets;
using System.Text;
using Oms.AppHost;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Oms.AppHost.Tests;

/// <summary>
/// The AppHost's private RabbitMQ node (what `dotnet run --project src/Oms.AppHost` starts without a container), run
/// for real in a throwaway folder on free ports: the generated credentials work over AMQP and the management API, and
/// a restart finds the same credentials and the same durable data; a node left running is adopted, and lost
/// credentials are given back to the user.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes; RabbitMQ from Debian's package
public sealed class LocalRabbitMqTests : IAsyncLifetime
{
    private const string QueueName = "apphost-test";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "oms-apphost-rabbitmq-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly List<LocalRabbitMq> _started = [];
    private readonly int _amqpPort = FreePort(), _managementPort = FreePort(), _distributionPort = FreePort(), _epmdPort = FreePort();

    public ValueTask InitializeAsync()
    {
        Assert.True(LocalRabbitMq.FindBinDir() is not null, "RabbitMQ binaries missing: apt-get install rabbitmq-server (.ci/run does)");
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        // Stopping an instance that shares its node with an earlier one is harmless: the second stop finds it gone.
        for (var i = _started.Count - 1; i >= 0; i--) await _started[i].StopAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task The_generated_credentials_work_and_a_restart_keeps_them_and_the_durable_data()
    {
        var ct = TestContext.Current.CancellationToken;
        var first = await StartAsync(_amqpPort);
        Assert.False(first.Adopted);
        Assert.Equal(48, first.Password.Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(first.CredentialsFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "rabbitmq.conf")));

        var body = "kept across restarts " + Guid.NewGuid();
        await using (var connection = await ConnectAsync(first.AmqpUri, ct))
        await using (var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct))
        {
            await channel.QueueDeclareAsync(QueueName, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
            await channel.BasicPublishAsync("", QueueName, mandatory: true, new BasicProperties { Persistent = true },
                Encoding.UTF8.GetBytes(body), ct);
        }
        using (var http = ManagementClient(first))
        {
            var whoami = await http.GetAsync("api/whoami", ct);
            Assert.Equal(HttpStatusCode.OK, whoami.StatusCode);
        }
        await first.StopAsync();
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => ConnectAsync(first.AmqpUri, ct));

        var second = await StartAsync(_amqpPort);
        Assert.False(second.Adopted);
        Assert.Equal(first.Password, second.Password);
        await using (var connection = await ConnectAsync(second.AmqpUri, ct))
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: ct))
        {
            var message = await channel.BasicGetAsync(QueueName, autoAck: true, ct);
            Assert.NotNull(message);
            Assert.Equal(body, Encoding.UTF8.GetString(message.Body.Span));
        }
    }

    [Fact]
    public async Task A_node_left_running_is_adopted_on_its_ports_and_lost_credentials_are_given_back()
    {
        var ct = TestContext.Current.CancellationToken;
        var running = await StartAsync(_amqpPort);

        // A later run configured for other ports finds the node already running and uses the ports it listens on.
        var adopting = await StartAsync(FreePort());
        Assert.True(adopting.Adopted);
        Assert.Equal(_amqpPort, adopting.AmqpPort);
        Assert.Equal(_managementPort, adopting.ManagementPort);
        Assert.Equal(running.Password, adopting.Password);

        // The credentials file is lost: a new password is generated and the node's user gets it; the old one stops working.
        File.Delete(running.CredentialsFile);
        var repaired = await StartAsync(_amqpPort);
        Assert.True(repaired.Adopted);
        Assert.NotEqual(running.Password, repaired.Password);
        await using (var connection = await ConnectAsync(repaired.AmqpUri, ct))
            Assert.True(connection.IsOpen);
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => ConnectAsync(running.AmqpUri, ct));
    }

    private async Task<LocalRabbitMq> StartAsync(int amqpPort)
    {
        var node = new LocalRabbitMq(LocalRabbitMq.FindBinDir()!, _dir, amqpPort, _managementPort, _distributionPort, _epmdPort);
        _started.Add(node);
        await node.StartAsync(TestContext.Current.CancellationToken);
        return node;
    }

    private static Task<IConnection> ConnectAsync(string amqpUri, CancellationToken ct) =>
        new ConnectionFactory { Uri = new Uri(amqpUri), AutomaticRecoveryEnabled = false, RequestedConnectionTimeout = TimeSpan.FromSeconds(10) }
            .CreateConnectionAsync(ct);

    private static HttpClient ManagementClient(LocalRabbitMq node)
    {
        var http = new HttpClient { BaseAddress = new Uri(node.ManagementUrl) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{LocalRabbitMq.UserName}:{node.Password}")));
        return http;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
