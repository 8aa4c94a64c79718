namespace VtdSim.Hardware.Events;

/// <summary>
/// The unit's structured event stream. Keeps the most recent <see cref="Capacity"/> events (older ones are counted in
/// <see cref="Dropped"/>) and calls subscribers synchronously, in order.
/// </summary>
public sealed class VtdEventLog
{
    private readonly Queue<VtdEvent> _events = new();
    private long _next;

    public VtdEventLog(int capacity = 10_000)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "capacity must be positive");
        Capacity = capacity;
    }

    public int Capacity { get; }
    public long Dropped { get; private set; }
    public IReadOnlyCollection<VtdEvent> Events => _events;

    public event Action<VtdEvent>? Raised;

    internal long NextSequence() => ++_next;

    internal void Add(VtdEvent e)
    {
        if (_events.Count == Capacity)
        {
            _events.Dequeue();
            Dropped++;
        }
        _events.Enqueue(e);
        Raised?.Invoke(e);
    }

    public IEnumerable<T> OfType<T>() where T : VtdEvent => _events.OfType<T>();

    public void Clear() => _events.Clear();
}
