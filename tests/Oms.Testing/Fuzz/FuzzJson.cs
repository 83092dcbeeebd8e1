using System.Globalization;
using System.Text;
using CsCheck;

namespace Oms.Testing.Fuzz;

/// <summary>What a request must get back, beyond the properties every answer has (no 5xx, 4xx as problem+json).</summary>
public enum Expect
{
    /// <summary>A well-formed request the contract accepts: 2xx.</summary>
    Success,
    /// <summary>A request the contract refuses: 4xx.</summary>
    ClientError,
    /// <summary>The contract is silent or either answer is right (duplicate keys, exponents, odd charsets).</summary>
    Any,
}

public static class ExpectExtensions
{
    /// <summary>A request with one refused part is refused; one with an unclear part is unclear.</summary>
    public static Expect And(this Expect a, Expect b) =>
        a == Expect.ClientError || b == Expect.ClientError ? Expect.ClientError
        : a == Expect.Any || b == Expect.Any ? Expect.Any
        : Expect.Success;
}

/// <summary>One field of an endpoint's body: generators of raw JSON texts that are valid, refused, or unclear for it.</summary>
public sealed record JsonField(string Name, Gen<string> Valid, Gen<string> Invalid, Gen<string> Odd);

/// <summary>A generated body: the exact bytes to send and what the endpoint should answer.</summary>
public sealed record FuzzBody(byte[] Bytes, Expect Expect, string Label);

/// <summary>
/// Generators of JSON text built by hand, so that what no serializer would write reaches the server byte for byte:
/// escapes that are not valid UTF-16 ("\ud800", lone low surrogates), "\u0000", raw emoji, numbers like 1e400 or
/// 999.9999999999999999999999999999, leading zeros, duplicate keys, nesting past the parser's depth, invalid UTF-8.
/// </summary>
public static class FuzzJson
{
    // Private-use characters stand for raw bytes that are not UTF-8; Utf8 replaces them when encoding the body.
    private const char RawFF = '\uF8FF', RawC0 = '\uF8FE', RawContinuation = '\uF8FD', RawEncodedSurrogate = '\uF8FC';

    /// <summary>Encodes generated text as UTF-8, turning the raw-byte markers into bytes that are not UTF-8.</summary>
    public static byte[] Utf8(string text)
    {
        if (text.IndexOfAny([RawFF, RawC0, RawContinuation, RawEncodedSurrogate]) < 0) return Encoding.UTF8.GetBytes(text);
        var bytes = new List<byte>(text.Length + 8);
        foreach (var part in SplitKeepingMarkers(text))
        {
            switch (part)
            {
                case [RawFF]: bytes.Add(0xFF); break;
                case [RawC0]: bytes.AddRange([0xC0, 0xAF]); break; // overlong '/'
                case [RawContinuation]: bytes.Add(0x80); break;
                case [RawEncodedSurrogate]: bytes.AddRange([0xED, 0xA0, 0x80]); break; // U+D800 encoded as if it were a scalar
                default: bytes.AddRange(Encoding.UTF8.GetBytes(part)); break;
            }
        }
        return [.. bytes];
    }

    private static IEnumerable<string> SplitKeepingMarkers(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is not (RawFF or RawC0 or RawContinuation or RawEncodedSurrogate)) continue;
            if (i > start) yield return text[start..i];
            yield return text[i].ToString();
            start = i + 1;
        }
        if (start < text.Length) yield return text[start..];
    }

    /// <summary>The contract's SKU rule: 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'.</summary>
    public static bool IsSku(string value) =>
        value.Length is >= 1 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>The contract's list limit: 1-500 in ASCII digits.</summary>
    public static bool IsLimit(string value) =>
        value.Length > 0 && value.All(char.IsAsciiDigit) && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 500;

    public static Expect Judge(bool valid) => valid ? Expect.Success : Expect.ClientError;

    // ---- strings ------------------------------------------------------------------------------

    /// <summary>Escapes JSON decodes to a character the SKU rule allows ('A', '.', '_', '-', digits).</summary>
    private static readonly string[] SkuSafeEscapes = [@"\u0041", @"\u002e", @"\u005F", @"\u002D", @"\u0030", @"\u007a"];

    /// <summary>Escapes and characters that are valid JSON but break every field rule (no SKU, UUID or key allows them).</summary>
    public static readonly string[] OddPieces =
    [
        @"\ud800", @"\udbff", @"\udc00", @"\udfff", @"\ude00\ud83d", @"\ud800\ud800", @"\ud800x",
        @"\u0000", @"\u0001", @"\u001f", @"\u007f", @"\u0085", @"\u2028", @"\uFFFF", @"\uFFFE", @"\uFEFF", @"\u00e9",
        @"\ud83d\ude00", "😀", "👩‍👩‍👧", "é", "中文", "\u200b", "\u202e", "Ａ", "ǅ", "Ω", "\u00a0",
    ];

    /// <summary>The odd pieces Guid parsing does not trim as white space.</summary>
    private static readonly string[] OddNotWhitespace = [.. OddPieces.Where(p => p is not (@"\u0085" or @"\u2028" or "\u00a0"))];

    /// <summary>Escapes whose decoded character is printable ASCII but outside the SKU rule.</summary>
    private static readonly string[] PrintableEscapes = [@"\""", @"\\", @"\/", @"\u0020", @"\u007e", "%", " ", "+", "'", "<", "{"];

    /// <summary>Whitespace escapes: inside a UUID string Guid parsing might trim them, so they are only "unclear" there.</summary>
    private static readonly string[] WhitespaceEscapes = [@"\n", @"\t", @"\r", @"\b", @"\f", @"\u000b", @"\u3000"];

    /// <summary>Pieces that make the enclosing JSON text invalid.</summary>
    private static readonly string[] BrokenStringPieces =
    [
        @"\x41", @"\u12", @"\uZZZZ", @"\U0041", @"\'", @"\a", "\u0001", "\t", "\n",
        RawFF.ToString(), RawC0.ToString(), RawContinuation.ToString(), RawEncodedSurrogate.ToString(),
    ];

    private static readonly Gen<string> AsciiWord = Gen.String[Gen.Char["abcdefXYZ0189._-"], 1, 10];

    /// <summary>Escapes a few characters of a valid value with \uXXXX: the decoded value is unchanged, so still valid.</summary>
    public static Gen<string> EscapeSome(string value) =>
        Gen.Int[0, 3].SelectMany(count => Gen.Int[0, Math.Max(0, value.Length - 1)].Array[count].Select(positions =>
        {
            var text = new StringBuilder(value.Length + 6 * count);
            for (var i = 0; i < value.Length; i++)
                if (positions.Contains(i) && value[i] != '"' && value[i] != '\\') text.Append($"\\u{(int)value[i]:X4}");
                else if (value[i] is '"' or '\\') text.Append('\\').Append(value[i]);
                else text.Append(value[i]);
            return "\"" + text + "\"";
        }));

    /// <summary>A JSON string literal that contains at least one character no field rule allows (JSON stays valid).</summary>
    public static readonly Gen<string> OddString =
        Gen.Select(AsciiWord, Gen.OneOf(OddPieces), AsciiWord, Gen.Int[0, 2])
            .Select((a, odd, b, where) => "\"" + (where switch { 0 => odd + a, 1 => a + odd + b, _ => a + odd }) + "\"");

    /// <summary>A string literal whose text makes the JSON invalid (bad escape, raw control character, bytes that are not UTF-8).</summary>
    public static readonly Gen<string> BrokenString =
        Gen.Select(AsciiWord, Gen.OneOf(BrokenStringPieces), AsciiWord)
            .Select((a, broken, b) => "\"" + a + broken + b + "\"");

    /// <summary>Any JSON string literal at all: a mix of plain text, odd escapes, whitespace and printable escapes.</summary>
    public static readonly Gen<string> AnyString =
        Gens.Frequency(
            (4, AsciiWord),
            (3, Gen.OneOf(OddPieces)),
            (1, Gen.OneOf(WhitespaceEscapes)),
            (1, Gen.OneOf(PrintableEscapes)),
            (1, Gen.OneOf(SkuSafeEscapes)))
        .Array[0, 6].Select(parts => "\"" + string.Concat(parts) + "\"");

    /// <summary>A string with a character outside the SKU rule: an odd, a whitespace or a printable-but-not-allowed one.</summary>
    public static readonly Gen<string> NonSkuString =
        Gen.Select(AsciiWord, Gen.OneOf([.. OddPieces, .. WhitespaceEscapes, .. PrintableEscapes]), AsciiWord)
            .Select((a, bad, b) => "\"" + a + bad + b + "\"");

    // ---- field kinds --------------------------------------------------------------------------

    /// <summary>Values of the wrong JSON type for a string field (null counts as missing: refused too).</summary>
    public static readonly Gen<string> NotAString = Gens.OneOf(
        Gen.OneOf("0", "1", "-1", "1.5", "1e400", "true", "false", "null", "[]", "{}", "[\"a\"]", "{\"a\":\"b\"}", "[[[]]]"),
        Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Values of the wrong JSON type for a number field.</summary>
    public static readonly Gen<string> NotANumber = Gens.OneOf(
        Gen.OneOf("\"1\"", "\"10.00\"", "\"1e3\"", "\"\"", "true", "false", "null", "[]", "{}", "[1]", "{\"value\":1}", "\"\\u0031\""),
        OddString);

    /// <summary>Texts that are not JSON numbers at all: the whole body becomes invalid JSON.</summary>
    public static readonly Gen<string> BrokenNumber = Gen.OneOf(
        "01", "-01", "00", "00.5", "+1", ".5", "1.", "-", "1e", "1e+", "0x10", "1_000", "NaN", "Infinity", "-Infinity", "1,5", "1..2", "--1", "١");

    /// <summary>A SKU field: a name from <paramref name="skus"/> (some characters escaped) is valid.</summary>
    public static JsonField Sku(string name, Gen<string> skus) => new(name,
        Valid: skus.SelectMany(EscapeSome),
        Invalid: Gens.Frequency(
            (5, NonSkuString),
            (2, NotAString),
            (1, Gen.OneOf("\"\"", "\"" + new string('a', 65) + "\"", "\"" + new string('Z', 300) + "\"")),
            (1, BrokenString)),
        Odd: AnyString);

    /// <summary>A UUID field: fresh UUIDs (in any format Guid parsing takes) are valid.</summary>
    public static JsonField Uuid(string name, Gen<Guid> ids) => new(name,
        Valid: Gen.Select(ids, Gen.OneOf("D", "N", "B", "P")).SelectMany(t => EscapeSome(t.Item1.ToString(t.Item2))),
        Invalid: Gens.Frequency(
            (4, Gen.Select(Gen.Guid, Gen.OneOf(OddNotWhitespace), Gen.Int[0, 36]).Select((id, odd, at) => "\"" + id.ToString().Insert(at, odd) + "\"")),
            (2, NotAString),
            (2, Gen.OneOf("\"\"", "\"not-a-uuid\"", "\"00000000-0000-0000-0000-00000000000\"", "\"00000000-0000-0000-0000-0000000000000\"",
                "\"{00000000-0000-0000-0000-000000000000\"", "\"g0000000-0000-0000-0000-000000000000\"")),
            (1, BrokenString)),
        Odd: Gens.OneOf(AnyString,
            Gen.Select(Gen.Guid, Gen.OneOf(WhitespaceEscapes)).Select((id, ws) => "\"" + ws + id + ws + "\""),
            Gen.OneOf("\"00000000-0000-0000-0000-000000000000\"", "\"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF\"")));

    /// <summary>An integer field in [min, max].</summary>
    public static JsonField Integer(string name, long min, long max, long typicalMax) => new(name,
        Valid: Gens.Frequency(
            (6, Gen.Long[min, Math.Min(max, typicalMax)]),
            (1, Gen.OneOf(min, Math.Min(max, typicalMax))))
            .Select(n => n.ToString(CultureInfo.InvariantCulture)),
        Invalid: Gens.Frequency(
            (3, Gen.OneOf(
                (min - 1).ToString(CultureInfo.InvariantCulture), (max + 1).ToString(CultureInfo.InvariantCulture),
                "-1", "1.5", "0.5", "-0.5", "1e400", "-1e400", "9223372036854775808", "-9223372036854775809",
                "18446744073709551616", "1.0000000000000000000001", "99999999999999999999999999999999999999")),
            (1, Gen.Long[long.MinValue, min - 1].Select(n => n.ToString(CultureInfo.InvariantCulture))),
            (1, Gen.Long[max + 1, long.MaxValue].Select(n => n.ToString(CultureInfo.InvariantCulture))),
            (3, NotANumber),
            (1, BrokenNumber)),
        // An integer written as 1e3, 1.0, -0 or 1E0: the contract does not say whether that text is an integer.
        Odd: Gen.OneOf("1e3", "1E0", "1.0", "2.00", "-0", "0", "1e-400", "10e-1", "1E+2", "5e0"));

    /// <summary>A money field: a number in [0, max] with at most two decimals.</summary>
    public static JsonField Money(string name, decimal max, decimal typicalMax) => new(name,
        Valid: Gens.Frequency(
            (4, Gen.Long[0, (long)typicalMax * 100].Select(cents => (cents / 100m).ToString(CultureInfo.InvariantCulture))),
            (2, Gen.Long[0, (long)typicalMax].Select(n => n.ToString(CultureInfo.InvariantCulture))),
            (1, Gen.OneOf("0", "0.0", "0.5", "0.05", "0.99", "1.10", "999.99", "1000", "1000.00",
                max.ToString(CultureInfo.InvariantCulture), max.ToString(CultureInfo.InvariantCulture) + ".00"))),
        Invalid: Gens.Frequency(
            (4, Gen.OneOf(
                "-0.01", "-1", "1.005", "0.001", "12.345", "999.999", "999.9999999999999999999999999999",
                "1.0000000000000000000001", "0.0000000000000000000000000001", "1e400", "-1e400",
                (max + 0.01m).ToString(CultureInfo.InvariantCulture), (max + 1).ToString(CultureInfo.InvariantCulture),
                "79228162514264337593543950336", "79228162514264337593543950335", "1e29",
                // Exponents that put digits past the second decimal, or below zero: still more than two decimals.
                "-1e-400", "1e-400", "1E-3", "5e-10", "-1e-2")),
            // More than two decimals however many digits: judged by the text, not by the rounded decimal.
            (2, Gen.Select(Gen.Long[0, 99_999], Gen.Int[3, 40], Gen.Int[1, 9])
                .Select((whole, decimals, last) => $"{whole}.{new string('9', decimals - 1)}{last}")),
            (3, NotANumber),
            (1, BrokenNumber)),
        // Exponents, -0, trailing zeros past two decimals: the contract does not say how such text is judged.
        Odd: Gen.OneOf("-0", "-0.0", "1e2", "1E+2", "1.5e1", "10.500", "1.000", "0e0", "0.10e1", "-0.00", "1.005e1", "1e-2"));

    /// <summary>An idempotency key: 1-255 printable ASCII characters.</summary>
    public static JsonField IdempotencyKey(string name, Gen<string> keys) => new(name,
        Valid: keys.SelectMany(EscapeSome),
        Invalid: Gens.Frequency(
            (4, Gen.Select(AsciiWord, Gen.OneOf([.. OddPieces, .. WhitespaceEscapes])).Select((a, b) => "\"" + a + b + "\"")),
            // Not null: a null key is an absent one, which an Idempotency-Key header may supply.
            (2, NotAString.Where(v => v != "null")),
            (1, Gen.OneOf("\"\"", "\"" + new string('k', 256) + "\"")),
            (1, BrokenString)),
        Odd: Gens.OneOf(AnyString, Gen.Const("null")));

    // ---- arbitrary JSON -----------------------------------------------------------------------

    /// <summary>Syntactically valid JSON of any type, nested up to <paramref name="depth"/>.</summary>
    public static Gen<string> AnyValue(int depth)
    {
        var scalar = Gens.Frequency(
            (3, AnyString),
            (2, Gen.OneOf("0", "-0", "1", "1e400", "-1e400", "1.0000000000000000000001", "999.9999999999999999999999999999",
                "1E-400", "123456789012345678901234567890", "true", "false", "null", "0.1", "-1")),
            (1, Gen.Long.Select(n => n.ToString(CultureInfo.InvariantCulture))));
        if (depth <= 0) return scalar;
        var inner = AnyValue(depth - 1);
        return Gens.Frequency(
            (4, scalar),
            (1, inner.Array[0, 4].Select(items => "[" + string.Join(",", items) + "]")),
            (1, Gen.Select(AnyString, inner).Array[0, 4].Select(members => "{" + string.Join(",", members.Select(m => m.Item1 + ":" + m.Item2)) + "}")));
    }

    /// <summary>Whether every string and name in a JSON value decodes to valid UTF-16 (no lone surrogate escapes).</summary>
    public static bool DecodesAsUtf16(string json)
    {
        static bool Decodes(System.Text.Json.JsonElement e) => e.ValueKind switch
        {
            System.Text.Json.JsonValueKind.String => e.GetString() is not null,
            System.Text.Json.JsonValueKind.Array => e.EnumerateArray().All(Decodes),
            System.Text.Json.JsonValueKind.Object => e.EnumerateObject().All(p => p.Name is not null && Decodes(p.Value)),
            _ => true,
        };
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return Decodes(document.RootElement);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Arrays nested past any sensible parser depth.</summary>
    public static readonly Gen<string> DeepValue = Gen.Int[40, 300].Select(depth => new string('[', depth) + new string(']', depth));

    /// <summary>One value from each generator, in order.</summary>
    public static Gen<T[]> All<T>(IEnumerable<Gen<T>> gens) =>
        gens.Aggregate(Gen.Const(Array.Empty<T>()), (all, next) => all.Select(next, (values, value) => (T[])[.. values, value]));

    private static readonly Gen<string> Whitespace = Gen.Frequency((8, ""), (2, " "), (1, "\n"), (1, "\t"), (1, "\r\n"), (1, "  \n  "));

    // ---- bodies -------------------------------------------------------------------------------

    /// <summary>Renders members as one JSON object, with the same generated whitespace between every token.</summary>
    private static Gen<string> Render(IReadOnlyList<(string Name, string Value)> members) =>
        Whitespace.Select(ws => "{" + ws + string.Join("," + ws, members.Select(m => m.Name + ws + ":" + ws + m.Value)) + ws + "}");

    private static string Quoted(string name) => "\"" + name + "\"";

    /// <summary>
    /// Bodies for an endpoint whose fields are <paramref name="fields"/> (all required): valid ones, ones with one field
    /// mutated, missing, duplicated or renamed by escapes, unknown fields, non-objects, invalid JSON, deep nesting,
    /// bytes that are not UTF-8, an empty and an oversized body.
    /// </summary>
    public static Gen<FuzzBody> Bodies(params JsonField[] fields)
    {
        var valid = All(fields.Select(f => f.Valid)).Select(values =>
            (IReadOnlyList<(string Name, string Value)>)fields.Select((f, i) => (Quoted(f.Name), values[i])).ToList());

        Gen<FuzzBody> Body(Gen<(IReadOnlyList<(string, string)> Members, Expect Expect, string Label)> shape) =>
            shape.SelectMany(s => Render(s.Members).Select(text => new FuzzBody(Utf8(text), s.Expect, s.Label)));

        Gen<FuzzBody> Replace(Func<JsonField, Gen<string>> pick, Expect expect, string what) =>
            Body(Gen.Select(valid, Gen.Int[0, fields.Length - 1]).SelectMany((members, i) => pick(fields[i]).Select(value =>
            {
                var copy = members.ToList();
                copy[i] = (copy[i].Name, value);
                return ((IReadOnlyList<(string, string)>)copy, expect, $"{what} {fields[i].Name}");
            })));

        var validBody = Body(valid.Select(m => (m, Expect.Success, "valid")));
        var invalidField = Replace(f => f.Invalid, Expect.ClientError, "invalid");
        var oddField = Replace(f => f.Odd, Expect.Any, "odd");
        var anyField = Replace(_ => AnyValue(2), Expect.Any, "any value in");

        var missing = Body(Gen.Select(valid, Gen.Int[0, fields.Length - 1]).Select((members, i) =>
            ((IReadOnlyList<(string, string)>)members.Where((_, j) => j != i).ToList(), Expect.ClientError, $"missing {fields[i].Name}")));

        // The same key twice: the contract is silent on which wins, so only the universal properties apply.
        var duplicate = Body(Gen.Select(valid, Gen.Int[0, fields.Length - 1], Gen.Bool).SelectMany(t => t switch { var (members, i, junkFirst) =>
            Gens.OneOf(fields[i].Invalid, fields[i].Odd, fields[i].Valid).Select(other =>
            {
                var copy = members.ToList();
                var extra = (copy[i].Name, other);
                copy.Insert(junkFirst ? i : i + 1, extra);
                return ((IReadOnlyList<(string, string)>)copy, Expect.Any, $"duplicate {fields[i].Name}");
            }) }));

        // Member names written with escapes decode to the same name: still the field.
        var escapedNames = Body(valid.SelectMany(members => All(members.Select(m => EscapeSome(m.Name.Trim('"'))))
            .Select(names => ((IReadOnlyList<(string, string)>)members.Select((m, i) => (names[i], m.Value)).ToList(), Expect.Success, "escaped names"))));

        // Unknown fields are ignored: a valid body with extra plain-named members of any value still succeeds.
        var unknownField = Body(Gen.Select(valid, Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz_"], 1, 12], AnyValue(3), Gen.Int[0, fields.Length])
            .Select((members, name, value, at) =>
            {
                var copy = members.ToList();
                copy.Insert(at, (Quoted("x_" + name), value));
                // A lone surrogate escape makes the JSON text itself invalid Unicode: refusing it as malformed is right too.
                return ((IReadOnlyList<(string, string)>)copy, DecodesAsUtf16(value) ? Expect.Success : Expect.Any, "unknown field");
            }));
        var oddName = Body(Gen.Select(valid, OddString, AnyValue(1)).Select((members, name, value) =>
            ((IReadOnlyList<(string, string)>)[(name, value), .. members], Expect.Any, "odd member name")));

        var nonObject = Gens.Frequency(
            (3, AnyValue(2).Where(v => !v.StartsWith('{'))),
            (1, valid.SelectMany(Render).Select(o => "[" + o + "]")),
            (1, Gen.OneOf("\"{}\"", "null", "0", "[]", "[{}]", "true")))
            .Select(text => new FuzzBody(Utf8(text), Expect.ClientError, "not an object"));

        var brokenJson = Gens.Frequency(
            (3, valid.SelectMany(Render).SelectMany(text => Gen.Int[0, text.Length - 1].Select(cut => text[..cut]))),
            (1, valid.SelectMany(Render).Select(text => text[..^1] + ",}")),
            (1, valid.SelectMany(Render).Select(text => text + "}")),
            (1, valid.SelectMany(Render).Select(text => text + "x")),
            (1, valid.SelectMany(Render).Select(text => text + " {}")),
            (1, valid.SelectMany(Render).Select(text => text.Replace('"', '\''))),
            (1, valid.SelectMany(Render).Select(text => "// comment\n" + text)),
            (1, valid.SelectMany(Render).Select(text => text.Replace("\"", ""))),
            (2, Replace(_ => BrokenString, Expect.ClientError, "broken string in").Select(b => Encoding.UTF8.GetString(b.Bytes))),
            (2, Replace(_ => BrokenNumber, Expect.ClientError, "broken number in").Select(b => Encoding.UTF8.GetString(b.Bytes))),
            (1, Gen.OneOf("", " ", "{", "}", "{\"", "{\"a\"}", "{\"a\":}", "{,}", "{\"a\":1,,\"b\":2}", "nul", "tru", "\"", "\u0000")))
            .Select(text => new FuzzBody(Utf8(text), Expect.ClientError, "invalid JSON"));
        // Bytes that are not UTF-8 inside a field's string: refused, whether as malformed JSON or as an invalid value.
        var notUtf8 = Replace(_ => Gen.Select(AsciiWord, Gen.OneOf(RawFF, RawC0, RawContinuation, RawEncodedSurrogate))
            .Select((a, raw) => "\"" + a + raw + "\""), Expect.ClientError, "bytes that are not UTF-8 in");
        var deep = Gen.Select(valid, DeepValue).SelectMany((members, deepValue) =>
            Render([.. members, ("\"deep\"", deepValue)])).Select(text => new FuzzBody(Utf8(text), Expect.ClientError, "nested past the depth limit"));
        var oversized = valid.SelectMany(members => Render([.. members, ("\"padding\"", "\"" + new string('p', 70 * 1024) + "\"")]))
            .Select(text => new FuzzBody(Utf8(text), Expect.ClientError, "over 64 KiB"));
        var bom = validBody.Select(b => new FuzzBody([0xEF, 0xBB, 0xBF, .. b.Bytes], Expect.Any, "UTF-8 BOM first"));

        return Gens.Frequency(
            (30, validBody),
            (16, invalidField),
            (8, missing),
            (8, oddField),
            (4, anyField),
            (6, duplicate),
            (3, escapedNames),
            (4, unknownField),
            (2, oddName),
            (5, nonObject),
            (7, brokenJson),
            (2, notUtf8),
            (1, deep),
            (1, oversized),
            (1, bom));
    }

    // ---- headers ------------------------------------------------------------------------------

    /// <summary>Content-Type headers (none, one, or two) and whether the JSON endpoint must take, refuse or may do either.</summary>
    public static readonly Gen<(IReadOnlyList<string> Values, Expect Expect)> ContentTypes = Gens.Frequency(
        (20, Gen.OneOf<(IReadOnlyList<string>, Expect)>((["application/json"], Expect.Success), (["application/json; charset=utf-8"], Expect.Success))),
        (2, Gen.OneOf<(IReadOnlyList<string>, Expect)>(
            (["application/json; charset=UTF-8"], Expect.Success), (["application/json;charset=utf-8"], Expect.Success),
            (["application/json; charset=\"utf-8\""], Expect.Any), (["Application/JSON"], Expect.Any),
            (["application/json; charset=utf-16"], Expect.Any), (["application/json; charset=latin1"], Expect.Any),
            (["application/json; charset=bogus"], Expect.Any), (["application/json; foo=bar"], Expect.Any),
            (["application/problem+json"], Expect.Any), (["application/merge-patch+json"], Expect.Any),
            (["application/json ; charset=utf-8"], Expect.Any), (["application/json;;"], Expect.Any),
            (["application/json", "application/json"], Expect.Any), (["application/json", "text/plain"], Expect.Any))),
        (1, Gen.OneOf<(IReadOnlyList<string>, Expect)>(
            ([], Expect.ClientError), (["text/plain"], Expect.ClientError), (["application/x-www-form-urlencoded"], Expect.ClientError),
            (["multipart/form-data; boundary=x"], Expect.ClientError), (["application/xml"], Expect.ClientError),
            (["text/json"], Expect.Any), (["application/jsonp"], Expect.ClientError), (["json"], Expect.ClientError),
            ([""], Expect.ClientError), (["*/*"], Expect.ClientError), (["application/*"], Expect.ClientError),
            (["application/octet-stream"], Expect.ClientError))));

    /// <summary>Percent-encodes every byte of the UTF-8 (or WTF-8, for lone surrogates) form of a value outside the unreserved set.</summary>
    public static string PercentEncode(string value)
    {
        var text = new StringBuilder();
        foreach (var b in Utf8(value))
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~') text.Append((char)b);
            else text.Append($"%{b:X2}");
        return text.ToString();
    }

    /// <summary>Decoded values for path segments and query parameters: odd characters, numbers, long, empty.</summary>
    public static readonly Gen<string> QueryValue = Gens.Frequency(
        (3, AsciiWord),
        (2, Gen.OneOf("é", "😀", "\0", "\ud800", "\udc00", " ", "%", "/", "..", ".", "+", "&", "=", "#", "?", "\u202e", "Ａ", "١", "null")),
        (1, Gen.Select(AsciiWord, Gen.OneOf("é", "\0", "\ud800", " ", "\u2028", "😀", RawFF.ToString()))
            .Select((a, odd) => a + odd)),
        (1, Gen.OneOf("", "0", "-1", "1", "50", "500", "501", "+5", " 5", "5 ", "1e2", "2147483648", "99999999999999999999", "0x10", "05")),
        (1, Gen.Int[65, 1500].Select(n => new string('a', n))));
}
