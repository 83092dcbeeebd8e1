using CsCheck;

namespace Oms.Testing.Fuzz;

/// <summary>Whole requests from generated bodies, headers and paths.</summary>
public static class FuzzRequests
{
    private static readonly Gen<bool> Chunked = Gen.Int[0, 9].Select(n => n == 0);

    /// <summary>The service token header of internal endpoints: usually right, sometimes missing or wrong (then 401).</summary>
    public static readonly Gen<(IReadOnlyList<(string, string)> Headers, Expect Expect)> ServiceToken = Gen.Frequency<(IReadOnlyList<(string, string)>, Expect)>(
        (60, ([("Authorization", "Bearer " + ServiceHost<object>.Token)], Expect.Success)),
        (1, ([], Expect.ClientError)),
        (1, ([("Authorization", "Bearer wrong-token")], Expect.ClientError)),
        (1, ([("Authorization", "Basic " + ServiceHost<object>.Token)], Expect.ClientError)),
        (1, ([("Authorization", "Bearer " + ServiceHost<object>.Token + "x")], Expect.ClientError)));

    public static readonly Gen<(IReadOnlyList<(string, string)> Headers, Expect Expect)> NoHeaders =
        Gen.Const<(IReadOnlyList<(string, string)>, Expect)>(([], Expect.Success));

    /// <summary>A JSON request: generated body and Content-Type, the given extra headers, sometimes chunked.</summary>
    public static Gen<FuzzCase> Json(string method, Gen<(string Target, Expect Expect)> target, Gen<FuzzBody> bodies,
        Gen<(IReadOnlyList<(string, string)> Headers, Expect Expect)> headers) =>
        Gen.Select(target, bodies, FuzzJson.ContentTypes, headers, Chunked).Select((path, body, contentType, extra, chunked) =>
        {
            List<(string, string)> all = [.. contentType.Values.Select(v => ("Content-Type", v)), .. extra.Headers];
            var expect = path.Expect.And(body.Expect).And(contentType.Expect).And(extra.Expect);
            var label = body.Label + (contentType.Expect == Expect.Success ? "" : $", Content-Type [{string.Join(", ", contentType.Values)}]")
                        + (extra.Expect == Expect.Success ? "" : ", odd headers");
            return new FuzzCase(new RawRequest(method, path.Target, all, body.Bytes, chunked), expect, label);
        });

    /// <summary>A GET of <paramref name="target"/> with what it must answer.</summary>
    public static Gen<FuzzCase> Json(string method, string target, Gen<FuzzBody> bodies,
        Gen<(IReadOnlyList<(string, string)> Headers, Expect Expect)> headers) =>
        Json(method, Gen.Const((target, Expect.Success)), bodies, headers);

    /// <summary>
    /// A path segment holding <paramref name="valid"/> values (some characters percent-encoded) or odd ones, judged by
    /// <paramref name="judge"/>. Dot segments and empty ones change which route matches, so they are judged unclear.
    /// </summary>
    public static Gen<(string Segment, Expect Expect, string Label)> Segment(Gen<string> valid, Func<string, Expect> judge) =>
        Gens.Frequency(
            (3, valid.Select(v => (v, v))),
            // A percent-encoded allowed character decodes to itself: still valid.
            (1, valid.Select(v => ($"%{(int)v[0]:X2}{v[1..]}", v))),
            // No %00: Kestrel refuses a path with a NUL itself (a bare 400, before any middleware can answer problem+json).
            (3, FuzzJson.QueryValue.Where(v => !v.Contains('\0')).Select(v => (FuzzJson.PercentEncode(v), v))))
        .Select(s => (s.Item1, s.Item2 is "" or "." or ".." ? Expect.Any : judge(s.Item2), "segment " + s.Item1));

    /// <summary>Adds generated headers to every case; a case whose headers are refused is refused.</summary>
    public static Gen<FuzzCase> With(this Gen<FuzzCase> cases, Gen<(IReadOnlyList<(string, string)> Headers, Expect Expect)> headers) =>
        Gen.Select(cases, headers).Select((c, h) => c with
        {
            Request = c.Request with { Headers = [.. c.Request.Headers, .. h.Headers] },
            Expect = c.Expect.And(h.Expect),
            Label = h.Expect == Expect.Success ? c.Label : c.Label + $", Authorization [{string.Join(", ", h.Headers.Select(x => x.Item2))}]",
        });

    public static Gen<FuzzCase> Get(Gen<(string Target, Expect Expect, string Label)> targets) =>
        targets.Select(t => new FuzzCase(new RawRequest("GET", t.Target, [], []), t.Expect, t.Label));

    /// <summary>
    /// Query strings for list endpoints: each parameter absent, valid or odd (percent-encoded), sometimes repeated.
    /// A parameter whose value is refused makes the whole query refused.
    /// </summary>
    public static Gen<(string Query, Expect Expect, string Label)> Query(
        params (string Name, Gen<string> Valid, Func<string, Expect> Judge)[] parameters)
    {
        var one = parameters.Select(p => Gens.Frequency(
            (3, Gen.Const(((string, Expect)?)null)),
            (3, p.Valid.Select(v => ((string, Expect)?)($"{p.Name}={FuzzJson.PercentEncode(v)}", p.Judge(v)))),
            (3, FuzzJson.QueryValue.Select(v => ((string, Expect)?)($"{p.Name}={FuzzJson.PercentEncode(v)}", p.Judge(v)))),
            // Repeated or valueless parameters: the contract does not say which value wins.
            (1, Gen.Select(p.Valid, FuzzJson.QueryValue).Select((a, b) => ((string, Expect)?)($"{p.Name}={FuzzJson.PercentEncode(a)}&{p.Name}={FuzzJson.PercentEncode(b)}", Expect.Any))),
            (1, Gen.OneOf<(string, Expect)?>(($"{p.Name}", Expect.Any), ($"{p.Name}=", Expect.Any), ($"{p.Name.ToUpperInvariant()}=x", Expect.Any)))));
        return FuzzJson.All(one).Select(parts =>
        {
            var present = parts.Where(p => p is not null).Select(p => p!.Value).ToList();
            var expect = present.Aggregate(Expect.Success, (e, p) => e.And(p.Item2));
            var query = string.Join("&", present.Select(p => p.Item1));
            return (query.Length > 0 ? "?" + query : "", expect, "query " + (query.Length > 0 ? query : "(none)"));
        });
    }
}
