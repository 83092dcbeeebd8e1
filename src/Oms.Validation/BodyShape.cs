using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Oms.Validation;

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
            p.AttributeProvider?.GetCustomAttributes(typeof(ValidationAttribute), inherit: true).Cast<ValidationAttribute>().ToArray() ?? []))]),
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

    private sealed record Member(string Name, bool IsRequired, Node Node, ValidationAttribute[] Rules);

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
            // Integers are judged as 64-bit, so that a value past an int's range breaks the field's range rule
            // ("must be between 1 and 1000000") rather than reading as a wrong type; the record itself is
            // deserialized only once every field has kept its rules.
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
