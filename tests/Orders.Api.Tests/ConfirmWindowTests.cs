namespace Orders.Api.Tests;

/// <summary>How the relay reads the broker's confirms for a batch (delivery tags 5..8 here): only a gapless prefix counts.</summary>
public sealed class ConfirmWindowTests
{
    private static readonly object Channel = new();

    [Fact]
    public void Single_acks_out_of_order_settle_the_batch_once_all_arrive_and_the_prefix_grows_without_gaps()
    {
        var window = new ConfirmWindow(Channel, 5, 4);
        window.Ack(6, multiple: false);
        Assert.Equal(0, window.ConfirmedPrefix); // 5 not yet
        window.Ack(5, multiple: false);
        window.Ack(8, multiple: false);
        Assert.Equal(2, window.ConfirmedPrefix);
        Assert.False(window.Settled.IsCompleted);
        window.Ack(7, multiple: false);
        Assert.True(window.Settled.IsCompletedSuccessfully);
        Assert.Equal(4, window.ConfirmedPrefix);
        Assert.Null(window.Failure);
    }

    [Fact]
    public void A_multiple_ack_covers_every_tag_up_to_it_and_tags_of_other_batches_are_ignored()
    {
        var window = new ConfirmWindow(Channel, 5, 4);
        window.Ack(3, multiple: true);  // an earlier batch's
        window.Ack(4, multiple: false);
        window.Ack(9, multiple: false); // beyond this batch, alone
        Assert.Equal(0, window.ConfirmedPrefix);
        window.Ack(7, multiple: true);
        Assert.Equal(3, window.ConfirmedPrefix);
        Assert.False(window.Settled.IsCompleted);
        window.Ack(12, multiple: true); // everything up to 12: this batch whole
        Assert.True(window.Settled.IsCompletedSuccessfully);
        Assert.Equal(4, window.ConfirmedPrefix);
    }

    [Fact]
    public void A_nack_settles_the_batch_as_failed_and_what_follows_it_never_counts()
    {
        var window = new ConfirmWindow(Channel, 5, 4);
        window.Ack(5, multiple: false);
        window.Nack(6, multiple: false);
        Assert.True(window.Settled.IsCompleted);
        Assert.NotNull(window.Failure);
        window.Ack(8, multiple: true); // acks after the nack: 6 still was refused
        Assert.Equal(1, window.ConfirmedPrefix);
    }

    [Fact]
    public void A_nack_of_another_batch_is_ignored_and_a_channel_failure_settles_with_what_was_confirmed()
    {
        var window = new ConfirmWindow(Channel, 5, 4);
        window.Nack(2, multiple: false);
        Assert.Null(window.Failure);
        window.Ack(6, multiple: true);
        window.Fail(new InvalidOperationException("channel closed"));
        Assert.True(window.Settled.IsCompleted);
        Assert.Equal("channel closed", window.Failure!.Message);
        Assert.Equal(2, window.ConfirmedPrefix);
    }

    [Fact]
    public void An_empty_batch_is_settled_at_once()
    {
        var window = new ConfirmWindow(Channel, 1, 0);
        Assert.True(window.Settled.IsCompletedSuccessfully);
        Assert.Equal(0, window.ConfirmedPrefix);
    }
}
