using Oms.ServiceDefaults;
using Payments.Api;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase("payments", typeof(PaymentsApi).Assembly);
builder.Services.AddSingleton<PaymentStore>();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, PaymentsJsonContext.Default));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPaymentsApi();
app.RunOrMigrate(args);
