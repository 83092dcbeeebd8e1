// Each assembly is entered through one of its public types: they all have a global-namespace Program, which would clash.
global using InventoryEntry = Inventory.Api.ReserveRequest;
global using PaymentsEntry = Payments.Api.AuthorizeRequest;
global using ConsoleEntry = Oms.Console.ConsoleOptions;
global using Microsoft.Playwright;
global using static Microsoft.Playwright.Assertions;
