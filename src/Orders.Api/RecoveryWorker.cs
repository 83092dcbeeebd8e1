using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>
/// Finishes PENDING orders whose lease expired: the request ran out of budget, or its process died.
/// Safe with any number of replicas (claims use FOR UPDATE SKIP LOCKED and fresh lease tokens).
/// Past the give-up deadline an order still gets one real attempt; if a dependency gives no answer to it, the order
/// is compensated and FAILED with that dependency's *_UNAVAILABLE.
/// </summary>
public sealed class RecoveryWorker(OrderStore store, OrderSaga saga, StuckOrders stuck, IOptions<RecoveryOptions> options,
    ILogger<RecoveryWorker> logger) : BackgroundService
{
    private readonly RecoveryOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            var claimed = 0;
            try
            {
                var orders = await store.ClaimExpiredAsync(_options.BatchSize, _options.Lease, stoppingToken);
                claimed = orders.Count;
                await Parallel.ForEachAsync(orders, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism },
                    (order, _) => new ValueTask(RecoverAsync(order, stoppingToken)));
                stuck.Update(await store.CountPendingOlderThanAsync(_options.GiveUpAfter, stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Typically our own database being down: try again on the next tick.
                logger.LogWarning(e, "Recovery pass failed");
            }

            // A full batch means more may be waiting: go again at once.
            if (claimed < _options.BatchSize)
            {
                try { await Task.Delay(_options.PollInterval, stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>One order's attempt. Its failure (our database gone mid-run) is its own: the batch goes on.</summary>
    private async Task RecoverAsync(OrderRow order, CancellationToken stoppingToken)
    {
        try
        {
            var pastDeadline = order.CreatedAt + _options.GiveUpAfter < DateTime.UtcNow;
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            budget.CancelAfter(_options.AttemptBudget);
            var result = await saga.RunAsync(order, Backoff(order.Attempts), pastDeadline, budget.Token);
            if (result.Status != order.Status)
                logger.LogInformation("Recovered order {OrderId}: {Status} {Reason}", result.OrderId, result.Status, result.FailureReason);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the order's lease runs out and another replica (or our next start) takes it.
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Recovery of order {OrderId} failed; it is tried again once its lease runs out", order.OrderId);
        }
    }

    // 0.25 s, 0.5 s, 1 s, … up to MaxBackoff between attempts on one order.
    private TimeSpan Backoff(int attempts) =>
        TimeSpan.FromMilliseconds(Math.Min(_options.MaxBackoff.TotalMilliseconds, 250 * Math.Pow(2, Math.Min(attempts, 20))));
}
