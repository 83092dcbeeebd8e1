using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Oms.ServiceDefaults;

/// <summary>
/// Binds a request body to its record, the body's one description (OpenAPI shows the same record), and answers what the
/// contract wants for anything else: 415/413/400 <c>malformed_json</c> from <see cref="JsonBody.ReadObjectAsync"/>, then
/// 400 <c>validation_failed</c> with every broken field keyed by its JSON path (<c>quantity</c>, <c>items[2].quantity</c>).
/// </summary>
/// <remarks>
/// <para>To describe a new body: write a record whose properties are the fields, add it to the service's
/// <see cref="JsonSerializerContext"/> (snake_case names), put the rules on the properties as attributes with the
/// <c>property:</c> target, and read it with <c>RequestBody.ReadAsync(request, XJsonContext.Default.MyRequest, ct)</c>:</para>
/// <code>
/// public sealed record OrderLine([property: Sku] string ItemSku, [property: Between(1, 1_000_000)] int Quantity);
/// public sealed record CreateOrder([property: Length(1, 50, ErrorMessage = "must hold 1-50 lines.")] IReadOnlyList&lt;OrderLine&gt; Items,
///     [property: StringLength(200, ErrorMessage = "must be at most {1} characters.")] string? Note) : IValidatableObject { … }
/// </code>
/// <list type="bullet">
/// <item>A non-nullable property is required ("is required." when absent or null); a nullable one (<c>string?</c>, <c>int?</c>) is optional.</item>
/// <item>A value of the wrong JSON type is a field error ("must be an integer.": <c>"2"</c> and <c>1.5</c> are not integers).</item>
/// <item>Rules are <see cref="ValidationAttribute"/>s, judged on the value; <see cref="IJsonTextRule"/> attributes also judge the
/// number's text (<see cref="MoneyAttribute"/>). The first broken rule of a field is reported.</item>
/// <item>Nested records and lists of records are checked field by field; rules across fields (distinct SKUs) go in
/// <see cref="IValidatableObject.Validate"/> of the top-level record, run once every field is valid, with member names as JSON paths.</item>
/// <item>Unknown fields are ignored. UUIDs are read in any format <see cref="Guid.TryParse(string?, out Guid)"/> takes.</item>
/// <item>Do not put <see cref="JsonConverterAttribute"/> on a body's properties: rules belong in attributes.</item>
/// </list>
/// </remarks>
public static class RequestBody
{
    /// <summary>
    /// Reads the body described by <paramref name="description"/>. <paramref name="alsoCheck"/> adds rules that need more
    /// than the body (a route value, a header); it sees the value even when fields are broken, with those fields left at
    /// their defaults, so that every broken rule is reported at once.
    /// </summary>
    public static async Task<(T Value, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> description,
        CancellationToken cancellationToken, Action<T, FieldErrors>? alsoCheck = null)
    {
        var (document, problem) = await JsonBody.ReadObjectAsync(request, cancellationToken);
        if (problem is not null) return (default!, problem);
        using (document) return Bind(document!.RootElement, description, alsoCheck);
    }

    /// <summary>
    /// Like <see cref="ReadAsync{T}"/> for a body the request may leave out (no body, or Content-Length: 0): then it is
    /// read as <c>{}</c>, so the record's optional fields are null and a required one is still reported.
    /// </summary>
    public static async Task<(T Value, ProblemHttpResult? Problem)> ReadOptionalAsync<T>(HttpRequest request, JsonTypeInfo<T> description,
        CancellationToken cancellationToken, Action<T, FieldErrors>? alsoCheck = null)
    {
        var canHaveBody = request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        if (canHaveBody && request.ContentLength != 0) return await ReadAsync(request, description, cancellationToken, alsoCheck);
        using var empty = JsonDocument.Parse("{}"u8.ToArray());
        return Bind(empty.RootElement, description, alsoCheck);
    }

    private static (T Value, ProblemHttpResult? Problem) Bind<T>(JsonElement root, JsonTypeInfo<T> description, Action<T, FieldErrors>? alsoCheck)
    {
        var errors = new FieldErrors();
        var value = (T?)BodyShape.For(description).Bind(root, errors);
        if (value is not null) alsoCheck?.Invoke(value, errors);
        return errors.Count == 0 && value is not null ? (value, null) : (default!, errors.ToProblem());
    }
}

/// <summary>The broken rules of a body, by JSON path; several messages per field are kept in order.</summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public int Count => _errors.Count;

    public bool Has(string field) => _errors.ContainsKey(field);

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list)) _errors[field] = list = [];
        list.Add(message);
    }

    public ProblemHttpResult ToProblem() => Problems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
}

/// <summary>A rule judged on a field's JSON text rather than on the value it binds to.</summary>
public interface IJsonTextRule
{
    /// <summary>The message when <paramref name="value"/> breaks the rule; null when it keeps it.</summary>
    string? Check(JsonElement value);
}

/// <summary>A SKU: 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class SkuAttribute() : ValidationAttribute(Rules.SkuRule)
{
    public override bool IsValid(object? value) => value is string sku && Rules.IsValidSku(sku);
    public override string FormatErrorMessage(string name) => Rules.SkuRule;
}

/// <summary>An idempotency key: 1-255 printable ASCII characters.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class IdempotencyKeyAttribute() : ValidationAttribute(Rules.KeyRule)
{
    public override bool IsValid(object? value) => value is null || (value is string key && Rules.IsValidIdempotencyKey(key));
    public override string FormatErrorMessage(string name) => Rules.KeyRule;
}

/// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class BetweenAttribute(long min, long max) : ValidationAttribute
{
    public long Min { get; } = min;
    public long Max { get; } = max;

    public override bool IsValid(object? value) => value switch
    {
        null => true,
        long n => n >= Min && n <= Max,
        _ => Convert.ToInt64(value, CultureInfo.InvariantCulture) is var n && n >= Min && n <= Max,
    };

    public override string FormatErrorMessage(string name) => $"must be between {Min} and {Max}.";
}

/// <summary>
/// Money: a number in [0, <paramref name="max"/>] with at most two decimal places, judged on the number's text
/// (decimal parsing rounds past 28 digits: 999.9999999999999999999999999999 would become 1000).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class MoneyAttribute(long max) : ValidationAttribute, IJsonTextRule
{
    public long Max { get; } = max;

    public override bool IsValid(object? value) => value is null || (value is decimal amount && amount >= 0 && amount <= Max);

    public override string FormatErrorMessage(string name) => $"must be between 0 and {Max}.";

    public string? Check(JsonElement value) =>
        FieldReader.DecimalPlaces(value.GetRawText()) > 2 ? "must have at most 2 decimal places." : null;
}

/// <summary>
/// How to check one body type, built once from its JSON contract (the source-generated <see cref="JsonTypeInfo"/>) and
/// the attributes on its properties. Each field is read on its own, so one broken field does not hide the others.
/// </summary>
internal sealed class BodyShape
{
    private const string Required = "is required.";

    private static readonly ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> ReadingOptions = new();
    private static readonly ConcurrentDictionary<JsonTypeInfo, BodyShape> Shapes = new();

    private readonly Node _root;

    private BodyShape(Node root) => _root = root;

    public static BodyShape For(JsonTypeInfo description) => Shapes.GetOrAdd(description, static d =>
    {
        // The service's own options (naming, its context), reading UUIDs as leniently as Guid.TryParse does.
        var options = ReadingOptions.GetValue(d.Options, static o =>
        {
            var copy = new JsonSerializerOptions(o);
            copy.Converters.Insert(0, new LenientGuidConverter());
            copy.MakeReadOnly();
            return copy;
        });
        return new BodyShape(Build(options.GetTypeInfo(d.Type), options));
    });

    /// <summary>The bound value; when fields are broken (see <paramref name="errors"/>), a placeholder with those fields at their defaults.</summary>
    public object? Bind(JsonElement root, FieldErrors errors)
    {
        var before = errors.Count;
        var value = _root.Read(root, "", errors);
        if (errors.Count == before && value is IValidatableObject validatable)
            foreach (var result in validatable.Validate(new ValidationContext(value)))
                foreach (var member in result.MemberNames.DefaultIfEmpty(""))
                    errors.Add(member, result.ErrorMessage ?? "is invalid.");
        return value;
    }

    private static Node Build(JsonTypeInfo type, JsonSerializerOptions options) => type.Kind switch
    {
        JsonTypeInfoKind.Object when type.Properties.Count > 0 => new ObjectNode(type, [.. type.Properties.Select(p => new Member(
            p.Name,
            IsRequired: !(p.AssociatedParameter?.IsNullable ?? p.IsSetNullable),
            Build(options.GetTypeInfo(p.PropertyType), options),
            p.AttributeProvider?.GetCustomAttributes(typeof(ValidationAttribute), inherit: true).Cast<ValidationAttribute>().ToArray() ?? [],
            p))]),
        JsonTypeInfoKind.Enumerable when type.ElementType is { } element => new ListNode(type, Build(options.GetTypeInfo(element), options)),
        _ => new ValueNode(type),
    };

    private static string PathOf(string parent, string name) => parent.Length == 0 ? name : parent + "." + name;

    private abstract class Node(JsonTypeInfo type)
    {
        protected JsonTypeInfo Type { get; } = type;

        /// <summary>The value of <paramref name="element"/>, or null with the reasons in <paramref name="errors"/>.</summary>
        public abstract object? Read(JsonElement element, string path, FieldErrors errors);

        /// <summary>Deserializes a value whose parts were all checked; a failure here is a field error, never an exception.</summary>
        protected object? Deserialize(JsonElement element, string path, FieldErrors errors, string message)
        {
            try
            {
                return element.Deserialize(Type);
            }
            catch (JsonException e) when (path.Length == 0)
            {
                // Only a field the checks above let through can fail here (a duplicate member the parser kept): name it.
                errors.Add(e.Path is ['$', '.', .. var field] ? field : "body", message);
                return null;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException)
            {
                errors.Add(path, message);
                return null;
            }
        }
    }

    private sealed record Member(string Name, bool IsRequired, Node Node, ValidationAttribute[] Rules, JsonPropertyInfo Property);

    private sealed class ObjectNode(JsonTypeInfo type, Member[] members) : Node(type)
    {
        public override object? Read(JsonElement element, string path, FieldErrors errors)
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                errors.Add(path, "must be an object.");
                return null;
            }
            var accepted = new bool[members.Length];
            for (var i = 0; i < members.Length; i++)
                accepted[i] = ReadMember(element, members[i], PathOf(path, members[i].Name), errors);
            return accepted.All(a => a) ? Deserialize(element, path, errors, "is invalid.") : Placeholder(element, accepted);
        }

        /// <summary>Whether the member is absent-and-optional or present and keeps every rule.</summary>
        private static bool ReadMember(JsonElement parent, Member member, string path, FieldErrors errors)
        {
            if (!parent.TryGetProperty(member.Name, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                if (!member.IsRequired) return true;
                errors.Add(path, Required);
                return false;
            }
            var before = errors.Count;
            var value = member.Node.Read(element, path, errors);
            if (errors.Count != before) return false;
            foreach (var rule in member.Rules)
            {
                if (!rule.IsValid(value))
                {
                    errors.Add(path, rule.FormatErrorMessage(member.Name));
                    return false;
                }
            }
            foreach (var rule in member.Rules)
            {
                if (rule is IJsonTextRule text && text.Check(element) is { } message)
                {
                    errors.Add(path, message);
                    return false;
                }
            }
            return true;
        }

        /// <summary>The object with only its good members, so that checks beyond the body can still see them.</summary>
        private object? Placeholder(JsonElement element, bool[] accepted)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                for (var i = 0; i < members.Length; i++)
                {
                    if (!accepted[i] || !element.TryGetProperty(members[i].Name, out var value)) continue;
                    writer.WritePropertyName(members[i].Name);
                    value.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            try
            {
                return JsonSerializer.Deserialize(buffer.WrittenSpan, Type);
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    private sealed class ListNode(JsonTypeInfo type, Node item) : Node(type)
    {
        public override object? Read(JsonElement element, string path, FieldErrors errors)
        {
            if (element.ValueKind != JsonValueKind.Array)
            {
                errors.Add(path, "must be an array.");
                return null;
            }
            var before = errors.Count;
            var index = 0;
            foreach (var entry in element.EnumerateArray())
            {
                var entryPath = $"{path}[{index++}]";
                if (entry.ValueKind == JsonValueKind.Null) errors.Add(entryPath, Required);
                else item.Read(entry, entryPath, errors);
            }
            return errors.Count == before ? Deserialize(element, path, errors, "is invalid.") : null;
        }
    }

    private sealed class ValueNode(JsonTypeInfo type) : Node(type)
    {
        private readonly bool _integer = (Nullable.GetUnderlyingType(type.Type) ?? type.Type) is var t
            && (t == typeof(int) || t == typeof(long) || t == typeof(short));

        private readonly string _wrongType = WrongType(Nullable.GetUnderlyingType(type.Type) ?? type.Type);

        private static string WrongType(Type type) =>
            type == typeof(int) || type == typeof(long) || type == typeof(short) ? "must be an integer."
            : type == typeof(string) ? "must be a string."
            : type == typeof(Guid) ? "must be a UUID string."
            : type == typeof(decimal) || type == typeof(double) || type == typeof(float) ? "must be a number."
            : type == typeof(bool) ? "must be true or false."
            : "has the wrong type.";

        public override object? Read(JsonElement element, string path, FieldErrors errors)
        {
            // Integers are judged as 64-bit first, so that a value past an int's range breaks the field's range rule
            // ("must be between 1 and 1000000") rather than reading as a wrong type; the deserialize below then
            // only runs for values the rules accept.
            if (_integer)
            {
                if (element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var number)) return number;
                errors.Add(path, "must be an integer.");
                return null;
            }
            return Deserialize(element, path, errors, _wrongType);
        }
    }

    /// <summary>UUIDs in any format <see cref="Guid.TryParse(string?, out Guid)"/> takes (D, N, B, P), as the contract has always accepted.</summary>
    private sealed class LenientGuidConverter : JsonConverter<Guid>
    {
        public override Guid Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String && Guid.TryParse(reader.GetString(), out var id)
                ? id
                : throw new JsonException("Not a UUID string.");

        public override void Write(Utf8JsonWriter writer, Guid value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
}
