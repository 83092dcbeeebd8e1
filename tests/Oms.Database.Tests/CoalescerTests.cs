using System.Collections.Concurrent;
using Oms.Database;

namespace Oms.Database.Tests;

public sealed class CoalescerTests
{
    [Fact]
    public async Task CallsThatArriveWhileTheLanesAreBusyRunAsOneGroupAndEachGetsItsOwnResult()
    {
        await using var lane = new GatedLane<string>(items => [.. items.Select(i => $"r{i}")]);
        var (first, rest) = await lane.RunAsync(0, Enumerable.Range(1, 20));

        Assert.Equal("r0", await first);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"r{i}"), await Task.WhenAll(rest));
        Assert.Equal([[0], [.. Enumerable.Range(1, 20)]], lane.Groups.Select(g => g.Order().ToArray()).ToArray());
    }

    [Fact]
    public async Task AFailingGroupIsRetriedCallByCallSoOnlyTheBadCallFails()
    {
        await using var lane = new GatedLane<int>(items =>
            items.Contains(13) ? throw new InvalidOperationException("bad item") : [.. items.Select(i => i * 2)]);
        var (first, rest) = await lane.RunAsync(10, Enumerable.Range(11, 5));

        Assert.Equal(20, await first);
        for (var i = 0; i < rest.Length; i++)
        {
            if (i + 11 == 13) await Assert.ThrowsAsync<InvalidOperationException>(() => rest[i]);
            else Assert.Equal((i + 11) * 2, await rest[i]);
        }
        // The first call ran alone, the next five together; that group failed and was run again one by one.
        Assert.Equal([1, 5, 1, 1, 1, 1, 1], lane.Groups.Select(g => g.Length).ToArray());
    }

    [Fact]
    public async Task AFailureThatIsNotOneCallsDoingFailsTheWholeGroupAtOnce()
    {
        await using var lane = new GatedLane<int>(items =>
            items.Count > 1 ? throw new TimeoutException("database unreachable") : [.. items],
            retryAlone: e => e is InvalidOperationException);
        var (first, rest) = await lane.RunAsync(0, Enumerable.Range(1, 5));

        Assert.Equal(0, await first);
        foreach (var call in rest) await Assert.ThrowsAsync<TimeoutException>(() => call);
        Assert.Equal([1, 5], lane.Groups.Select(g => g.Length).ToArray());
    }

    [Fact]
    public async Task WithMaxBatchOneEveryCallRunsAloneOnTheCallersOwnPath()
    {
        var sizes = new ConcurrentQueue<int>();
        await using var coalescer = new Coalescer<int, int>(new CoalescingOptions { MaxBatch = 1 }, items =>
        {
            sizes.Enqueue(items.Count);
            return Task.FromResult<IReadOnlyList<int>>([items[0] + 1]);
        });
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() => coalescer.RunAsync(i))));
        Assert.Equal(Enumerable.Range(1, 50), results);
        Assert.All(sizes, s => Assert.Equal(1, s));
    }

    [Fact]
    public async Task PastMaxQueueWaitingCallsANewCallIsRefusedAtOnceWithRetryAfter()
    {
        // The lane is stuck (a stalled database): four calls may wait, the next ones are refused without waiting.
        await using var lane = new GatedLane<int>(items => [.. items], maxQueue: 4);
        var (first, rest) = await lane.RunAsync(0, Enumerable.Range(1, 6));

        Assert.Equal(0, await first);
        Assert.Equal(new[] { 1, 2, 3, 4 }, await Task.WhenAll(rest.Take(4)));
        foreach (var refused in rest.Skip(4))
        {
            var error = await Assert.ThrowsAsync<OverloadedException>(() => refused);
            Assert.Equal(TimeSpan.FromSeconds(3), error.RetryAfter);
        }
        Assert.Equal([1, 4], lane.Groups.Select(g => g.Length).ToArray());
    }

    [Fact]
    public async Task AfterDisposeNewCallsAreRefused()
    {
        var coalescer = new Coalescer<int, int>(new CoalescingOptions(), items => Task.FromResult<IReadOnlyList<int>>([.. items]));
        Assert.Equal(7, await coalescer.RunAsync(7));
        await coalescer.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => coalescer.RunAsync(8));
    }

    /// <summary>One lane whose groups wait at a gate, so that calls made while the first group holds it must queue.</summary>
    private sealed class GatedLane<TResult> : IAsyncDisposable
    {
        private readonly TaskCompletionSource _firstStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Coalescer<int, TResult> _coalescer;

        public ConcurrentQueue<int[]> Groups { get; } = new();

        public GatedLane(Func<IReadOnlyList<int>, TResult[]> answer, Func<Exception, bool>? retryAlone = null, int maxQueue = 1024) =>
            _coalescer = new Coalescer<int, TResult>(new CoalescingOptions { Lanes = 1, MaxBatch = 64, MaxQueue = maxQueue, RetryAfter = TimeSpan.FromSeconds(3) }, async items =>
            {
                Groups.Enqueue([.. items]);
                _firstStarted.TrySetResult();
                await _gate.Task;
                return answer(items);
            }, retryAlone);

        /// <summary>Runs <paramref name="first"/>, waits until its group holds the lane, queues the rest, opens the gate.</summary>
        public async Task<(Task<TResult> First, Task<TResult>[] Queued)> RunAsync(int first, IEnumerable<int> rest)
        {
            var firstCall = _coalescer.RunAsync(first);
            await _firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var restCalls = rest.Select(_coalescer.RunAsync).ToArray();
            _gate.SetResult();
            return (firstCall, restCalls);
        }

        public ValueTask DisposeAsync() => _coalescer.DisposeAsync();
    }
}
