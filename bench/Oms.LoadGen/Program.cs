using Oms.LoadGen;

// dotnet run -c Release --project bench/Oms.LoadGen -- --clients 64 --duration 30s [--mix confirmed=90,declined=5,out-of-stock=5] [--json]
return await new LoadGenCommand().Parse(args).InvokeAsync();
