using System.Net.Sockets;
using System.Text;

namespace Oms.Testing.Fuzz;

/// <summary>One HTTP/1.1 request exactly as it goes on the wire (header lines kept separate, body as raw bytes).</summary>
public sealed record RawRequest(string Method, string Target, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body, bool Chunked = false)
{
    public byte[] ToBytes(string host)
    {
        var head = new StringBuilder();
        head.Append(Method).Append(' ').Append(Target).Append(" HTTP/1.1\r\nHost: ").Append(host).Append("\r\n");
        foreach (var (name, value) in Headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        if (Chunked) head.Append("Transfer-Encoding: chunked\r\n");
        else if (Body.Length > 0 || Method is "POST" or "PUT") head.Append("Content-Length: ").Append(Body.Length).Append("\r\n");
        head.Append("\r\n");
        // Header values are sent byte for byte (Latin-1), so a test can put any octet in them.
        var bytes = new List<byte>(Encoding.Latin1.GetBytes(head.ToString()));
        if (Chunked)
        {
            if (Body.Length > 0)
            {
                bytes.AddRange(Encoding.ASCII.GetBytes($"{Body.Length:x}\r\n"));
                bytes.AddRange(Body);
                bytes.AddRange("\r\n"u8.ToArray());
            }
            bytes.AddRange("0\r\n\r\n"u8.ToArray());
        }
        else bytes.AddRange(Body);
        return [.. bytes];
    }

    /// <summary>The request as readable text: non-ASCII and control bytes of the body as \xNN, so a report shows the exact bytes.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(Method).Append(' ').Append(Target).Append('\n');
        foreach (var (name, value) in Headers) text.Append(name).Append(": ").Append(Escape(Encoding.Latin1.GetBytes(value))).Append('\n');
        if (Chunked) text.Append("Transfer-Encoding: chunked\n");
        text.Append('\n').Append(Body.Length > 2048 ? Escape(Body.AsSpan(0, 2048)) + $"… ({Body.Length} bytes)" : Escape(Body));
        return text.ToString();
    }

    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
            if (b is >= 0x20 and < 0x7F) text.Append((char)b);
            else text.Append($"\\x{b:X2}");
        return text.ToString();
    }
}

public sealed record RawResponse(int Status, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
    public string BodyText => Encoding.UTF8.GetString(Body);
    public override string ToString() =>
        $"{Status}\n{string.Join("\n", Headers.Select(h => $"{h.Name}: {h.Value}"))}\n\n{(BodyText.Length > 2048 ? BodyText[..2048] + "…" : BodyText)}";
}

/// <summary>
/// A minimal HTTP/1.1 client over one kept-alive TCP connection. HttpClient cannot send what a fuzzer needs:
/// it merges repeated headers into one line and validates header values; this writes the bytes it is given.
/// </summary>
public sealed class RawHttpClient(Uri baseAddress) : IAsyncDisposable
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(60);
    private TcpClient? _tcp;
    private Stream? _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    public async Task<RawResponse> SendAsync(RawRequest request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AnswerTimeout);
        var bytes = request.ToBytes($"{baseAddress.Host}:{baseAddress.Port}");
        for (var attempt = 0; ; attempt++)
        {
            var reused = _stream is not null;
            try
            {
                if (_stream is null) await ConnectAsync(timeout.Token);
                await _stream!.WriteAsync(bytes, timeout.Token);
                var response = await ReadResponseAsync(timeout.Token);
                if (response.Header("Connection") is { } c && c.Contains("close", StringComparison.OrdinalIgnoreCase)) Close();
                return response;
            }
            catch (Exception e) when (reused && attempt == 0 && e is IOException or EndOfStreamException)
            {
                // The server closed the kept-alive connection between requests: send again on a new one.
                Close();
            }
        }
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        _tcp = new TcpClient { NoDelay = true };
        await _tcp.ConnectAsync(baseAddress.Host, baseAddress.Port, cancellationToken);
        _stream = _tcp.GetStream();
        _start = _end = 0;
    }

    private void Close()
    {
        _stream?.Dispose();
        _tcp?.Dispose();
        _stream = null;
        _tcp = null;
    }

    private async Task<RawResponse> ReadResponseAsync(CancellationToken cancellationToken)
    {
        var statusLine = await ReadLineAsync(cancellationToken);
        var status = int.Parse(statusLine.Split(' ')[1]);
        var headers = new List<(string, string)>();
        while (await ReadLineAsync(cancellationToken) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':');
            headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        var response = new RawResponse(status, headers, []);
        byte[] body;
        if (response.Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var all = new MemoryStream();
            while (true)
            {
                var size = Convert.ToInt32((await ReadLineAsync(cancellationToken)).Split(';')[0].Trim(), 16);
                if (size == 0)
                {
                    while ((await ReadLineAsync(cancellationToken)).Length > 0) { }
                    break;
                }
                all.Write(await ReadExactlyAsync(size, cancellationToken));
                await ReadLineAsync(cancellationToken);
            }
            body = all.ToArray();
        }
        else if (response.Header("Content-Length") is { } length)
            body = await ReadExactlyAsync(int.Parse(length), cancellationToken);
        else if (status is 204 or 304 || status < 200)
            body = [];
        else
        {
            // No framing: the body runs to the end of the connection.
            using var all = new MemoryStream();
            all.Write(_buffer, _start, _end - _start);
            _start = _end = 0;
            await _stream!.CopyToAsync(all, cancellationToken);
            Close();
            body = all.ToArray();
        }
        return response with { Body = body };
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var read = await _stream!.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        if (read == 0) throw new EndOfStreamException("The server closed the connection.");
        _end += read;
        return true;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, newline - _start).TrimEnd('\r');
                _start = newline + 1;
                return line;
            }
            await FillAsync(cancellationToken);
        }
    }

    private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        var result = new byte[count];
        var copied = 0;
        while (copied < count)
        {
            if (_start == _end) await FillAsync(cancellationToken);
            var n = Math.Min(count - copied, _end - _start);
            Buffer.BlockCopy(_buffer, _start, result, copied, n);
            _start += n;
            copied += n;
        }
        return result;
    }

    public ValueTask DisposeAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }
}
