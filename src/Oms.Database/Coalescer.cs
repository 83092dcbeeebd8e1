using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Threading.Channels;

namespace Oms.Database;

public sealed class CoalescingOptions
{
    /// <summary>Most calls run together as one group (one statement, one commit); 1 runs every call on its own.</summary>
    [Range(1, 1000)] public int MaxBatch { get; set; } = 64;

    /// <summary>
    /// Groups of one kind that may run at once; calls arriving meanwhile wait and form the next group. Fewer lanes
    /// make bigger groups: on 2 cores one lane did best (docs/benchmarks.md, "Levers"), so one per two cores.
    /// </summary>
    [Range(1, 64)] public int Lanes { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// Calls that may wait for a lane. When the database stalls, callers keep coming; past this many waiting, a call is
    /// refused at once (503 with Retry-After) instead of holding memory for an answer that may never come in time.
    /// </summary>
    [Range(1, 1_000_000)] public int MaxQueue { get; set; } = 1024;

    /// <summary>What a refused call's Retry-After tells the client.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Too many calls are already waiting for the database: retry after <see cref="RetryAfter"/>.</summary>
public sealed class OverloadedException(TimeSpan retryAfter)
    : Exception("Too many writes are waiting for the database; retry later.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// Runs concurrent calls of the same kind as groups. A call that finds a lane free runs at once (a group of one);
/// calls that arrive while every lane is busy queue and go together in the next group. Under load one statement
/// then commits many rows, which costs PostgreSQL far less than one commit per row; at low load nothing waits.
/// A group that fails because of one of its calls (<c>retryAlone</c> says which failures those can be: the database
/// refused the statement, e.g. a constraint or a deadlock) is retried call by call, so one bad call fails only itself;
/// any other failure (the database is unreachable) fails the whole group at once rather than a timeout per call.
/// Results come back in the order of the items.
/// </summary>
public sealed class Coalescer<TItem, TResult> : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> _run;
    private readonly Func<Exception, bool> _retryAlone;
    private readonly int _maxBatch;
    private readonly TimeSpan _retryAfter;
    private readonly Channel<Call> _queue;
    private readonly Task[] _lanes;

    private sealed record Call(TItem Item, TaskCompletionSource<TResult> Result, Activity? Activity);

    public Coalescer(CoalescingOptions options, Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> run,
        Func<Exception, bool>? retryAlone = null)
    {
        _run = run;
        _retryAlone = retryAlone ?? (_ => true);
        _maxBatch = options.MaxBatch;
        _retryAfter = options.RetryAfter;
        // Bounded, refusing rather than waiting when full: a write that would wait behind MaxQueue others fails fast.
        _queue = Channel.CreateBounded<Call>(new BoundedChannelOptions(options.MaxQueue)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then returns false at once; nothing waits on WriteAsync
            SingleReader = false,
        });
        _lanes = options.MaxBatch == 1 ? [] : Enumerable.Range(0, options.Lanes).Select(_ => Task.Run(RunLaneAsync)).ToArray();
    }

    /// <summary>
    /// Runs <paramref name="item"/> alone or with others. It is not cancelled once queued: the group it joins runs to the end.
    /// Throws <see cref="OverloadedException"/> at once when <see cref="CoalescingOptions.MaxQueue"/> calls are already waiting.
    /// </summary>
    public async Task<TResult> RunAsync(TItem item)
    {
        if (_maxBatch == 1) return (await _run([item]))[0];
        var call = new Call(item, new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously), Activity.Current);
        if (!_queue.Writer.TryWrite(call))
        {
            if (_queue.Reader.Completion.IsCompleted || _disposed) throw new ObjectDisposedException(nameof(Coalescer<TItem, TResult>));
            throw new OverloadedException(_retryAfter);
        }
        return await call.Result.Task;
    }

    private volatile bool _disposed;

    private async Task RunLaneAsync()
    {
        var group = new List<Call>(_maxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < _maxBatch && _queue.Reader.TryRead(out var call)) group.Add(call);
            if (group.Count == 0) continue;
            await RunGroupAsync(group);
        }
    }

    private async Task RunGroupAsync(List<Call> group)
    {
        // The database spans of a group belong to a traced caller's trace, if any caller is traced.
        Activity.Current = group.Find(c => c.Activity is { Recorded: true })?.Activity ?? group[0].Activity;
        try
        {
            var results = await _run(group.ConvertAll(c => c.Item));
            for (var i = 0; i < group.Count; i++) group[i].Result.TrySetResult(results[i]);
        }
        catch (Exception e) when (group.Count > 1 && _retryAlone(e))
        {
            foreach (var call in group) await RunGroupAsync([call]);
        }
        catch (Exception e)
        {
            foreach (var call in group) call.Result.TrySetException(e);
        }
        finally
        {
            Activity.Current = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_lanes);
    }
}
