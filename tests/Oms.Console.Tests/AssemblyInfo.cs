using Oms.Testing;

[assembly: AssemblyFixture(typeof(PostgresServer))]
