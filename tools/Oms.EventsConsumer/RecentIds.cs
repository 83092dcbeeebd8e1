namespace Oms.EventsConsumer;

/// <summary>
/// The last <c>capacity</c> event ids handled, oldest forgotten first. Enough for a sample: the broker redelivers an
/// unacked event soon after a reconnect and the relay re-publishes within seconds, so duplicates arrive close to the
/// original. It is lost on restart, though, and each replica has its own: a production consumer records processed ids in
/// its own database instead (a processed_events(event_id PRIMARY KEY) table, inserted in the same transaction as the
/// event's effect, so a duplicate fails the insert and is skipped) — see README.md.
/// </summary>
public sealed class RecentIds(int capacity)
{
    private readonly HashSet<string> _ids = new(capacity);
    private readonly Queue<string> _order = new(capacity);

    public int Count => _ids.Count;

    public bool Contains(string id) => _ids.Contains(id);

    public void Add(string id)
    {
        if (!_ids.Add(id)) return;
        _order.Enqueue(id);
        if (_order.Count > capacity) _ids.Remove(_order.Dequeue());
    }
}
