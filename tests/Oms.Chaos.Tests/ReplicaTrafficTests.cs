using Oms.Chaos;
using Xunit;

namespace Oms.Chaos.Tests;

/// <summary>The per-replica request count the chaos run requires to be positive, read from Prometheus' text format.</summary>
public sealed class ReplicaTrafficTests
{
    private const string Exposition = """
        # TYPE http_server_request_duration_seconds histogram
        http_server_request_duration_seconds_bucket{http_request_method="POST",http_route="/api/v1/stock/reserve",le="0.005"} 7 1732800000000
        http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200",http_route="/api/v1/stock/reserve",network_protocol_version="2"} 41 1732800000000
        http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="409",http_route="/api/v1/stock/reserve",network_protocol_version="2"} 9
        http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200",http_route="/api/v1/stock/release"} 5
        http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="201",http_route="/api/v1/stock/items"} 10
        http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200"} 1000
        http_server_request_duration_seconds_sum{http_request_method="POST",http_route="/api/v1/stock/reserve"} 3.5
        """;

    [Fact]
    public void SumsTheCountsOfTheAcceptedRoutesOnly()
    {
        Assert.Equal(55, ReplicaTraffic.Sum(Exposition, route => route is "/api/v1/stock/reserve" or "/api/v1/stock/release"));
        Assert.Equal(10, ReplicaTraffic.Sum(Exposition, route => route == "/api/v1/stock/items"));
        Assert.Equal(0, ReplicaTraffic.Sum(Exposition, route => route.StartsWith("/api/v1/orders", StringComparison.Ordinal)));
    }
}
