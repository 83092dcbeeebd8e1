// Each service assembly is entered through one of its public types (they all have a Program).
global using InventoryEntry = Inventory.Api.ReserveRequest;
global using PaymentsEntry = Payments.Api.AuthorizeRequest;
