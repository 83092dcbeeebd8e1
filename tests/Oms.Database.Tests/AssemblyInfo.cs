using Oms.Testing;
using Xunit;

[assembly: AssemblyFixture(typeof(PostgresServer))]
