using System.ComponentModel.DataAnnotations;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Oms.ServiceDefaults;
using Oms.Validation;

namespace Oms.Validation.Tests;

// Bodies shaped like the ones the contract is adding (multi-line order, cancel), described only by their records.
public sealed record Line([property: Sku] string ItemSku, [property: Between(1, 1_000_000)] int Quantity);

public sealed record Basket(
    [property: Length(1, 50, ErrorMessage = "must hold 1-50 lines.")] IReadOnlyList<Line> Items,
    [property: Money(1_000_000_000)] decimal Amount,
    Guid? OrderId) : IValidatableObject
{
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Items.Count; i++)
            if (Items.Take(i).Any(earlier => earlier.ItemSku == Items[i].ItemSku))
                yield return new ValidationResult("repeats the SKU of an earlier line.", [$"items[{i}].item_sku"]);
    }
}

public sealed record Cancel([property: StringLength(200, ErrorMessage = "must be at most {1} characters.")] string? Reason);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Basket))]
[JsonSerializable(typeof(Cancel))]
internal sealed partial class TestBodiesContext : JsonSerializerContext;

public sealed class RequestBodyTests
{
    private static HttpRequest Request(string? body, string? contentType = "application/json")
    {
        var context = new DefaultHttpContext();
        if (contentType is not null) context.Request.ContentType = contentType;
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        context.Request.Body = new MemoryStream(bytes);
        context.Request.ContentLength = bytes.Length;
        return context.Request;
    }

    private static Task<(Basket Value, ProblemHttpResult? Problem)> Basket(string body) =>
        RequestBody.ReadAsync(Request(body), TestBodiesContext.Default.Basket, TestContext.Current.CancellationToken);

    private static Task<(Cancel Value, ProblemHttpResult? Problem)> Cancel(HttpRequest request) =>
        RequestBody.ReadOptionalAsync(request, TestBodiesContext.Default.Cancel, TestContext.Current.CancellationToken);

    private static IDictionary<string, string[]> Errors(ProblemHttpResult? problem)
    {
        Assert.NotNull(problem);
        Assert.Equal(StatusCodes.Status400BadRequest, problem.StatusCode);
        Assert.Equal(Problems.ValidationFailed, problem.ProblemDetails.Extensions["code"]);
        return Assert.IsType<HttpValidationProblemDetails>(problem.ProblemDetails).Errors;
    }

    [Fact]
    public async Task A_valid_body_binds_to_its_record()
    {
        var id = Guid.NewGuid();
        var (basket, problem) = await Basket($$"""{"items":[{"item_sku":"A-1","quantity":2},{"item_sku":"B","quantity":1}],"amount":15e-2,"order_id":"{{id:N}}","x":[{}]}""");
        Assert.Null(problem);
        Assert.Equal([new Line("A-1", 2), new Line("B", 1)], basket.Items);
        Assert.Equal(0.15m, basket.Amount);
        Assert.Equal(id, basket.OrderId);
    }

    [Fact]
    public async Task Every_broken_field_is_reported_by_its_path_nested_ones_included()
    {
        var (_, problem) = await Basket("""{"items":[{"item_sku":"A","quantity":1},{"item_sku":"B","quantity":"2"},{"item_sku":"bad sku","quantity":0},null,7],"amount":1.234,"order_id":"nope"}""");
        var errors = Errors(problem);
        Assert.Equal(["amount", "items[1].quantity", "items[2].item_sku", "items[2].quantity", "items[3]", "items[4]", "order_id"], errors.Keys.Order());
        Assert.Equal(["must be an integer."], errors["items[1].quantity"]);
        Assert.Equal(["must be between 1 and 1000000."], errors["items[2].quantity"]);
        Assert.Equal(["is required."], errors["items[3]"]);
        Assert.Equal(["must be an object."], errors["items[4]"]);
        Assert.Equal(["must have at most 2 decimal places."], errors["amount"]);
        Assert.Equal(["must be a UUID string."], errors["order_id"]);
    }

    [Theory]
    [InlineData("""{"amount":1}""", "items", "is required.")]
    [InlineData("""{"items":null,"amount":1}""", "items", "is required.")]
    [InlineData("""{"items":{},"amount":1}""", "items", "must be an array.")]
    [InlineData("""{"items":[],"amount":1}""", "items", "must hold 1-50 lines.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1}]}""", "amount", "is required.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1}],"amount":"1"}""", "amount", "must be a number.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1}],"amount":1e-3}""", "amount", "must have at most 2 decimal places.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1}],"amount":999.9999999999999999999999999999}""", "amount", "must have at most 2 decimal places.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1}],"amount":-0.01}""", "amount", "must be between 0 and 1000000000.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":1.5}],"amount":1}""", "items[0].quantity", "must be an integer.")]
    [InlineData("""{"items":[{"item_sku":"A","quantity":3000000000}],"amount":1}""", "items[0].quantity", "must be between 1 and 1000000.")]
    [InlineData("""{"items":[{"item_sku":7,"quantity":1}],"amount":1}""", "items[0].item_sku", "must be a string.")]
    [InlineData("""{"items":[{"quantity":1}],"amount":1}""", "items[0].item_sku", "is required.")]
    public async Task A_broken_field_is_a_validation_error_with_the_rule_it_breaks(string body, string field, string message)
    {
        var (_, problem) = await Basket(body);
        var errors = Errors(problem);
        Assert.Equal([field], errors.Keys);
        Assert.Equal([message], errors[field]);
    }

    [Theory]
    [InlineData("1.500000000000000000000000000000000", 1.5)]
    [InlineData("15e-2", 0.15)]
    [InlineData("0.10E1", 1)]
    [InlineData("1000000000.00", 1_000_000_000)]
    public async Task Money_is_judged_on_the_number_as_written(string amount, decimal expected)
    {
        var (basket, problem) = await Basket($$"""{"items":[{"item_sku":"A","quantity":1}],"amount":{{amount}}}""");
        Assert.Null(problem);
        Assert.Equal(expected, basket.Amount);
    }

    [Fact]
    public async Task Of_a_member_sent_twice_the_last_is_both_checked_and_bound()
    {
        var (_, problem) = await Basket("""{"items":[{"item_sku":"A","quantity":1}],"amount":1,"amount":1.234}""");
        Assert.Equal(["amount"], Errors(problem).Keys);

        var (basket, accepted) = await Basket("""{"items":[{"item_sku":"A","quantity":1}],"amount":1.234,"amount":2}""");
        Assert.Null(accepted);
        Assert.Equal(2m, basket.Amount);
    }

    [Fact]
    public async Task Rules_across_fields_run_once_every_field_is_valid()
    {
        var (_, problem) = await Basket("""{"items":[{"item_sku":"A","quantity":1},{"item_sku":"B","quantity":1},{"item_sku":"A","quantity":2}],"amount":1}""");
        Assert.Equal(["items[2].item_sku"], Errors(problem).Keys);

        // With a field broken, the record is not whole, so the cross-field rule is not asked.
        (_, problem) = await Basket("""{"items":[{"item_sku":"A","quantity":1},{"item_sku":"A","quantity":0}],"amount":1}""");
        Assert.Equal(["items[1].quantity"], Errors(problem).Keys);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("{")]
    [InlineData("")]
    [InlineData("""{"items":[{"item_sku":"\ud800","quantity":1}],"amount":1}""")]
    public async Task A_body_that_is_not_a_json_object_is_malformed_json(string body)
    {
        var (_, problem) = await Basket(body);
        Assert.NotNull(problem);
        Assert.Equal(Problems.MalformedJson, problem.ProblemDetails.Extensions["code"]);
    }

    [Fact]
    public async Task Checks_beyond_the_body_see_its_good_fields_and_add_their_own_errors()
    {
        Basket? seen = null;
        var (_, problem) = await RequestBody.ReadAsync(Request("""{"items":[{"item_sku":"A","quantity":1}],"amount":"x"}"""),
            TestBodiesContext.Default.Basket, TestContext.Current.CancellationToken,
            (basket, errors) => { seen = basket; errors.Add("sku", "route value is bad."); });
        Assert.Equal(["amount", "sku"], Errors(problem).Keys.Order());
        Assert.Equal("A", Assert.Single(seen!.Items).ItemSku);
    }

    [Fact]
    public async Task An_optional_body_may_be_absent_empty_or_given()
    {
        Assert.Equal((new Cancel(null), (ProblemHttpResult?)null), await Cancel(Request(null, contentType: null)));
        Assert.Equal((new Cancel(null), (ProblemHttpResult?)null), await Cancel(Request("{}")));
        Assert.Equal((new Cancel("changed my mind"), (ProblemHttpResult?)null), await Cancel(Request("""{"reason":"changed my mind"}""")));

        Assert.Equal(["must be a string."], Errors((await Cancel(Request("""{"reason":5}"""))).Problem)["reason"]);
        Assert.Equal(["must be at most 200 characters."], Errors((await Cancel(Request($$"""{"reason":"{{new string('r', 201)}}"}"""))).Problem)["reason"]);
        Assert.Equal(StatusCodes.Status415UnsupportedMediaType, (await Cancel(Request("""{"reason":"x"}""", "text/plain"))).Problem?.StatusCode);
    }
}
