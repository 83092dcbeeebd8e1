using System.Text.Json.Serialization;
using Microsoft.AspNetCore.OpenApi;
using Oms.ServiceDefaults;
using Payments.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase("payments", typeof(PaymentsApi).Assembly);
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, PaymentsJsonContext.Default);
    // Bodies are read by FieldReader, which refuses "100" for a number; say so in the OpenAPI schema too.
    o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
});
builder.Services.Configure<OpenApiOptions>("v1", o => o.AddSchemaTransformer((schema, context, _) =>
{
    // Money is a decimal, never a float.
    if (context.JsonTypeInfo.Type == typeof(decimal)) schema.Format = "decimal";
    return Task.CompletedTask;
}));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPaymentsApi();
app.Run();
