using Xunit;
using System.Collections.Concurrent;
using Oms.ServiceDefaults;

namespace Oms.ServiceDefaults.Tests;

public sealed class CoalescerTests
{
    [Fact]
    public async Task CallsThatArriveWhileTheLanesAreBusyRunAsOneGroupAndEachGetsItsOwnResult()
    {
        var firstStarted = new TaskCompletionSource();
        var releaseFirst = new TaskCompletionSource();
        var groups = new ConcurrentQueue<int[]>();
        await using var coalescer = new Coalescer<int, string>(new CoalescingOptions { Lanes = 1, MaxBatch = 64 }, async items =>
        {
            groups.Enqueue([.. items]);
            if (items.Contains(0)) { firstStarted.TrySetResult(); await releaseFirst.Task; }
            return [.. items.Select(i => $"r{i}")];
        });

        var first = coalescer.RunAsync(0);
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        // The only lane is busy: these 20 calls queue and must go together.
        var rest = Enumerable.Range(1, 20).Select(coalescer.RunAsync).ToArray();
        releaseFirst.SetResult();

        Assert.Equal("r0", await first);
        var results = await Task.WhenAll(rest);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"r{i}"), results);
        Assert.Equal([[0], [.. Enumerable.Range(1, 20)]], groups.Select(g => g.Order().ToArray()).ToArray());
    }

    [Fact]
    public async Task AFailingGroupIsRetriedCallByCallSoOnlyTheBadCallFails()
    {
        var firstStarted = new TaskCompletionSource();
        var gate = new TaskCompletionSource();
        var sizes = new ConcurrentQueue<int>();
        await using var coalescer = new Coalescer<int, int>(new CoalescingOptions { Lanes = 1, MaxBatch = 64 }, async items =>
        {
            sizes.Enqueue(items.Count);
            firstStarted.TrySetResult();
            await gate.Task;
            if (items.Contains(13)) throw new InvalidOperationException("bad item");
            return [.. items.Select(i => i * 2)];
        });

        var calls = new List<Task<int>> { coalescer.RunAsync(10) };
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        calls.AddRange(Enumerable.Range(11, 5).Select(coalescer.RunAsync));
        gate.SetResult();

        for (var i = 0; i < calls.Count; i++)
        {
            if (i + 10 == 13) await Assert.ThrowsAsync<InvalidOperationException>(() => calls[i]);
            else Assert.Equal((i + 10) * 2, await calls[i]);
        }
        // The first call ran alone, the next five together; that group failed and was run again one by one.
        Assert.Equal([1, 5, 1, 1, 1, 1, 1], sizes.ToArray());
    }

    [Fact]
    public async Task AFailureThatIsNotOneCallsDoingFailsTheWholeGroupAtOnce()
    {
        var firstStarted = new TaskCompletionSource();
        var gate = new TaskCompletionSource();
        var sizes = new ConcurrentQueue<int>();
        await using var coalescer = new Coalescer<int, int>(new CoalescingOptions { Lanes = 1, MaxBatch = 64 }, async items =>
        {
            sizes.Enqueue(items.Count);
            firstStarted.TrySetResult();
            await gate.Task;
            if (items.Count > 1) throw new TimeoutException("database unreachable");
            return [.. items];
        }, retryAlone: e => e is InvalidOperationException);

        var first = coalescer.RunAsync(0);
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var group = Enumerable.Range(1, 5).Select(coalescer.RunAsync).ToArray();
        gate.SetResult();

        Assert.Equal(0, await first);
        foreach (var call in group) await Assert.ThrowsAsync<TimeoutException>(() => call);
        Assert.Equal([1, 5], sizes.ToArray());
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
    public async Task AfterDisposeNewCallsAreRefused()
    {
        var coalescer = new Coalescer<int, int>(new CoalescingOptions(), items => Task.FromResult<IReadOnlyList<int>>([.. items]));
        Assert.Equal(7, await coalescer.RunAsync(7));
        await coalescer.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => coalescer.RunAsync(8));
    }
}
