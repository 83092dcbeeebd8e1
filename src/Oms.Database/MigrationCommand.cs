using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Oms.Database;

/// <summary>
/// <c>&lt;service&gt; migrate</c>: applies the service's migrations (as the owner role, ConnectionStrings:&lt;name&gt;_owner)
/// and exits without serving — a Kubernetes init container (deploy/k8s) runs it, so the serving container holds only
/// the runtime role's credentials and runs with Migrations:OnStart=false.
/// </summary>
public static class MigrationCommand
{
    public const string Name = "migrate";

    /// <summary>Runs the host until it stops, or only migrates when the arguments are exactly <see cref="Name"/>.</summary>
    public static void RunOrMigrate(this IHost host, string[] args)
    {
        if (args is not [Name])
        {
            host.Run();
            return;
        }
        // The host is built, never started: no hosted service runs, nothing listens.
        host.Services.GetRequiredService<DatabaseMigrator>()
            .Migrate(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MigrationCommand)));
    }
}
