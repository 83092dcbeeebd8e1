using Microsoft.Extensions.Options;

namespace Orders.Api;

/// <summary>
/// Finishes PENDING orders whose lease expired: the request ran out of budget, or its process died.
/// Safe with any number of replicas (claims use FOR UPDATE SKIP LOCKED and fresh lease tokens).
/// Past the give-up deadline an order is compensated and FAILED with *_UNAVAILABLE.
/// </summary>
public sealed class RecoveryWorker(OrderStore store, OrderSaga saga, IOptions<RecoveryOptions> options, ILogger<RecoveryWorker> logger)
    : BackgroundService
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
                await Parallel.ForEachAsync(orders, new ParallelOptions { MaxDegreeOfParallelism = 8 },
                    (order, _) => new ValueTask(RecoverAsync(order, stoppingToken)));
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

    private async Task RecoverAsync(OrderRow order, CancellationToken stoppingToken)
    {
        if (order.CompensateReason is null && order.CreatedAt + _options.GiveUpAfter < DateTime.UtcNow)
        {
            var reason = order.StuckAt == PaymentClient.Name ? FailureReason.PaymentUnavailable : FailureReason.InventoryUnavailable;
            logger.LogWarning("Order {OrderId} past its give-up deadline: compensating as {Reason}", order.OrderId, reason);
            order = await store.DecideFailureAsync(order, reason, CancellationToken.None) ?? order;
        }

        using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        budget.CancelAfter(_options.AttemptBudget);
        var result = await saga.RunAsync(order, Backoff(order.Attempts), budget.Token);
        if (result.Status != OrderStatus.Pending)
            logger.LogInformation("Recovered order {OrderId}: {Status} {Reason}", result.OrderId, result.Status, result.FailureReason);
    }

    // 0.25 s, 0.5 s, 1 s, … up to MaxBackoff between attempts on one order.
    private TimeSpan Backoff(int attempts) =>
        TimeSpan.FromMilliseconds(Math.Min(_options.MaxBackoff.TotalMilliseconds, 250 * Math.Pow(2, Math.Min(attempts, 20))));
}
