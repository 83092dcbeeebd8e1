using Inventory.Api;
using Oms.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase("inventory", typeof(StockApi).Assembly);
builder.Services.AddSingleton<StockStore>();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, InventoryJsonContext.Default));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapStockApi();
app.RunOrMigrate(args);
