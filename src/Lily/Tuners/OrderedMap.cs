using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Lily.Tuners;

/// <summary>
/// A read-only dictionary that enumerates in the order keys were added, on every target framework
/// (<c>OrderedDictionary&lt;K, V&gt;</c> exists only from .NET 9): <c>rank_pattern</c> keys are tried in order.
/// </summary>
internal sealed class OrderedMap<TKey, TValue> : IReadOnlyDictionary<TKey, TValue> where TKey : notnull
{
    private readonly List<KeyValuePair<TKey, TValue>> items = new();
    private readonly Dictionary<TKey, TValue> lookup;

    public OrderedMap(IEqualityComparer<TKey>? comparer = null) => lookup = new(comparer);

    public OrderedMap(IEnumerable<KeyValuePair<TKey, TValue>> items, IEqualityComparer<TKey>? comparer = null) : this(comparer)
    {
        foreach (var (key, value) in items) Add(key, value);
    }

    /// <summary>Adds a new key at the end.</summary>
    /// <exception cref="ArgumentException">The key is already present.</exception>
    public void Add(TKey key, TValue value)
    {
        lookup.Add(key, value);
        items.Add(KeyValuePair.Create(key, value));
    }

    public TValue this[TKey key] => lookup[key];

    public IEnumerable<TKey> Keys => items.Select(i => i.Key);

    public IEnumerable<TValue> Values => items.Select(i => i.Value);

    public int Count => items.Count;

    public bool ContainsKey(TKey key) => lookup.ContainsKey(key);

    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => lookup.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
