using Lily.Bert.Tokenization;
using System.Globalization;
using Lily.TextClassification.Data;
using Xunit.Abstractions;

namespace Lily.Bert.Tests.Data;

/// <summary>Prints the tasks' statistics (counts, label shares, word-piece lengths) and checks they are sane.</summary>
[Collection(DatasetCollection.Name)]
public sealed class DatasetStatsTests(DatasetFixture data, ITestOutputHelper output)
{
    [Theory]
    [InlineData(SpamAssassinCorpus.TaskName)]
    [InlineData(BrownCorpus.TaskName)]
    public void Statistics(string name)
    {
        var encoder = new TextEncoder(MiniLmVocab.FilePath);
        foreach (var task in new[] { data.Task(name), data.Task(name).FewShot() })
        {
            output.WriteLine($"== {task.Name}: {task.LabelNames.Count} labels");
            foreach (var (split, examples) in new[] { ("train", task.Train), ("validation", task.Validation), ("test", task.Test) })
            {
                var counts = task.LabelNames.Select((_, l) => examples.Count(e => e.Label == l)).ToArray();
                var documents = examples.Select(e => e.DocumentId).Distinct().Count();
                var lengths = examples.Select(e => encoder.TokenIds(e.Text).Count).Order().ToArray();
                var median = lengths.Length == 0 ? 0 : lengths[lengths.Length / 2];
                var over = lengths.Count(l => l > 126) / (double)Math.Max(1, lengths.Length);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{split,-10} {examples.Count,6} examples {documents,5} docs  majority {counts.Max() / (double)examples.Count:P1}  median pieces {median}  >126: {over:P0}"));
                output.WriteLine("   " + string.Join(", ", task.LabelNames.Select((n, l) => $"{n} {counts[l]}")));
                median.Should().BeGreaterThan(20);
            }
        }
    }
}
