using Inventory.Api;
using Oms.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase("inventory", typeof(StockApi).Assembly);
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, InventoryJsonContext.Default);
    // Numbers are numbers: keeps OpenAPI from advertising "integer or string" (bodies are parsed by FieldReader anyway).
    o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
});

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapStockApi();
app.Run();
