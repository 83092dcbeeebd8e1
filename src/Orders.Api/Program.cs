using Oms.ServiceDefaults;
using Orders.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase("orders", typeof(OrdersApi).Assembly);
builder.AddOrderSaga();
builder.AddOrderEvents();
builder.AddOrderStats();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapOrdersApi();
app.RunOrMigrate(args);
