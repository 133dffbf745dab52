using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Lily.TextClassification.Data;

/// <summary>
/// Deterministic splitting by document. Every decision is a SHA-256 hash of a key (never .NET's per-process
/// randomized string hash, never the input order), so the same documents give the same split on every run and machine.
/// </summary>
public static class DocumentSplit
{
    /// <summary>The default test share of groups.</summary>
    public const double DefaultTestFraction = 0.2;

    /// <summary>The default validation share of groups (of all groups; carved from the non-test ones).</summary>
    public const double DefaultValidationFraction = 0.1;

    /// <summary>Maps a key to a number in [0, 1), uniform and stable.</summary>
    /// <param name="key">The key (a group key, a document id).</param>
    /// <param name="salt">Separates independent decisions made on the same key.</param>
    /// <returns>The number.</returns>
    public static double Unit(string key, string salt)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(salt + "\n" + key), hash);
        // 53 bits: exactly representable as a double, so the result is strictly below 1.
        return (BinaryPrimitives.ReadUInt64BigEndian(hash) >> 11) / (double)(1UL << 53);
    }

    /// <summary>
    /// Assigns every group a side, stratified by label: within each class, groups ordered by a hash of their key give
    /// the first round(n × test) to test and the next round(n × validation) to validation, so even a 6-document class
    /// appears in each split. The result depends only on the set of groups, not on their order.
    /// </summary>
    /// <param name="documents">The documents.</param>
    /// <param name="testFraction">The test share of each class's groups.</param>
    /// <param name="validationFraction">The validation share of each class's groups.</param>
    /// <returns>The side of every group key.</returns>
    public static IReadOnlyDictionary<string, SplitSide> AssignSides(
        IEnumerable<SourceDocument> documents,
        double testFraction = DefaultTestFraction,
        double validationFraction = DefaultValidationFraction)
    {
        var sides = new Dictionary<string, SplitSide>(StringComparer.Ordinal);
        var groups = documents.GroupBy(d => d.GroupKey, StringComparer.Ordinal)
            .Select(g => (Key: g.Key, Label: g.GroupBy(d => d.Label).OrderByDescending(l => l.Count()).ThenBy(l => l.Key).First().Key));
        foreach (var cls in groups.GroupBy(g => g.Label))
        {
            var ordered = cls.OrderBy(g => Unit(g.Key, "split")).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
            var test = (int)Math.Round(ordered.Count * testFraction, MidpointRounding.AwayFromZero);
            var validation = (int)Math.Round(ordered.Count * validationFraction, MidpointRounding.AwayFromZero);
            for (var i = 0; i < ordered.Count; i++)
            {
                sides[ordered[i].Key] = i < test ? SplitSide.Test : i < test + validation ? SplitSide.Validation : SplitSide.Train;
            }
        }

        return sides;
    }

    /// <summary>
    /// Draws exactly <paramref name="count"/> examples, per class in proportion to the pool (largest remainder) but at
    /// least one of every class present, choosing within a class by a seeded hash of the example's identity.
    /// </summary>
    /// <param name="pool">The examples to draw from (fewer than <paramref name="count"/> is an error).</param>
    /// <param name="count">How many to draw.</param>
    /// <param name="labelCount">The number of classes.</param>
    /// <param name="seed">Changes the draw.</param>
    /// <returns>The drawn examples, in the pool's order.</returns>
    public static IReadOnlyList<TextExample> DrawStratified(IReadOnlyList<TextExample> pool, int count, int labelCount, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, pool.Count);
        var keyed = KeyByIdentity(pool);
        var byLabel = Enumerable.Range(0, labelCount).Select(l => keyed.Where(k => k.Example.Label == l).ToList()).ToList();
        var present = byLabel.Count(c => c.Count > 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, present);

        // Largest remainder on the share left after the one-per-class floor, so rare classes still appear.
        var targets = byLabel.Select(c => c.Count > 0 ? 1 : 0).ToArray();
        var rest = count - present;
        var spare = pool.Count - present;
        var quotas = byLabel.Select(c => spare == 0 ? 0.0 : (double)rest * Math.Max(0, c.Count - 1) / spare).ToArray();
        for (var l = 0; l < labelCount; l++)
        {
            targets[l] += Math.Min((int)Math.Floor(quotas[l]), byLabel[l].Count - targets[l]);
        }

        var order = Enumerable.Range(0, labelCount).OrderByDescending(l => quotas[l] - Math.Floor(quotas[l])).ThenBy(l => l).ToList();
        // Repeats only when a class is exhausted; terminates because count <= pool.Count.
        while (targets.Sum() < count)
        {
            foreach (var l in order.Where(l => targets[l] < byLabel[l].Count))
            {
                if (targets.Sum() == count)
                {
                    break;
                }

                targets[l]++;
            }
        }

        var salt = $"draw:{seed}";
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        for (var l = 0; l < labelCount; l++)
        {
            foreach (var k in byLabel[l].OrderBy(k => Unit(k.Identity, salt)).ThenBy(k => k.Identity, StringComparer.Ordinal).Take(targets[l]))
            {
                chosen.Add(k.Identity);
            }
        }

        return keyed.Where(k => chosen.Contains(k.Identity)).Select(k => k.Example).ToList();
    }

    /// <summary>
    /// Splits examples into train and validation by group (all of a group's examples on one side): groups in seeded
    /// hash order join validation while their class has fewer than <paramref name="validationFraction"/> of its examples there.
    /// </summary>
    /// <param name="examples">The examples.</param>
    /// <param name="validationFraction">The validation share, per class.</param>
    /// <param name="labelCount">The number of classes.</param>
    /// <param name="seed">Changes the carve-out.</param>
    /// <returns>Train and validation, each in the input's order.</returns>
    public static (IReadOnlyList<TextExample> Train, IReadOnlyList<TextExample> Validation) CarveValidation(
        IReadOnlyList<TextExample> examples, double validationFraction, int labelCount, int seed)
    {
        var perClass = new int[labelCount];
        foreach (var e in examples)
        {
            perClass[e.Label]++;
        }

        var targets = perClass.Select(n => (int)Math.Round(n * validationFraction, MidpointRounding.AwayFromZero)).ToArray();
        var taken = new int[labelCount];
        var validationGroups = new HashSet<string>(StringComparer.Ordinal);
        var salt = $"carve:{seed}";
        foreach (var group in examples.GroupBy(e => e.GroupKey, StringComparer.Ordinal)
                     .OrderBy(g => Unit(g.Key, salt)).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            // A group is one document (or identical copies), so it has one label; take the most common to be safe.
            var label = group.GroupBy(e => e.Label).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
            if (taken[label] < targets[label])
            {
                validationGroups.Add(group.Key);
                taken[label] += group.Count();
            }
        }

        return (examples.Where(e => !validationGroups.Contains(e.GroupKey)).ToList(),
                examples.Where(e => validationGroups.Contains(e.GroupKey)).ToList());
    }

    // An example's identity: its document and its position among that document's examples (chunk order is fixed).
    private static List<(string Identity, TextExample Example)> KeyByIdentity(IReadOnlyList<TextExample> pool)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var keyed = new List<(string, TextExample)>(pool.Count);
        foreach (var e in pool)
        {
            var n = seen.GetValueOrDefault(e.DocumentId);
            seen[e.DocumentId] = n + 1;
            keyed.Add(($"{e.DocumentId}#{n}", e));
        }

        return keyed;
    }
}
