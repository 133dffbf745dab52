using Lily.TextClassification.Data;

namespace Lily.Bert.Tests.Data;

[Collection(DatasetCollection.Name)]
public sealed class DatasetTests(DatasetFixture data)
{
    public static TheoryData<string> Tasks => new() { SpamAssassinCorpus.TaskName, BrownCorpus.TaskName };

    [Fact]
    public void SpamAssassin_has_6046_emails_in_two_classes()
    {
        data.SpamDocuments.Should().HaveCount(6046);
        data.SpamDocuments.Select(d => d.DocumentId).Should().OnlyHaveUniqueItems();
        data.SpamDocuments.Should().OnlyContain(d => d.Texts.Count == 1 && d.Texts[0].Length > 0 && d.Texts[0].Length <= EmailText.DefaultMaxChars);
        data.Spam.LabelNames.Should().Equal("ham", "spam");
        // Per-group counts as the package's folders hold them (each email is a .json beside a .txt).
        var files = SpamAssassinCorpus.GroupLabels.Keys.ToDictionary(
            g => g, g => Directory.GetFiles(Path.Combine(data.SpamFolder, "data", g), "*.json").Length);
        data.SpamDocuments.Count(d => d.Label == 0).Should().Be(files["easy-ham-1"] + files["easy-ham-2"] + files["hard-ham-1"]);
        data.SpamDocuments.Count(d => d.Label == 1).Should().Be(files["spam-1"] + files["spam-2"]).And.BeGreaterThan(0);
        (data.Spam.Train.Count + data.Spam.Validation.Count + data.Spam.Test.Count).Should().Be(6046);
    }

    [Fact]
    public void SpamAssassin_texts_have_no_headers()
    {
        // Headers such as Received / Return-Path must be gone from almost every extracted text.
        var leaked = data.SpamDocuments.Count(d => d.Texts[0].Contains("Return-Path:", StringComparison.Ordinal)
                                                  || d.Texts[0].Contains("Received: from", StringComparison.Ordinal));
        leaked.Should().BeLessThan(data.SpamDocuments.Count / 100);
        var html = data.SpamDocuments.Count(d => d.Texts[0].Contains("</td>", StringComparison.OrdinalIgnoreCase)
                                                || d.Texts[0].Contains("<br>", StringComparison.OrdinalIgnoreCase));
        html.Should().BeLessThan(data.SpamDocuments.Count / 100);
    }

    [Fact]
    public void Brown_has_500_documents_in_15_genres_named_by_cats_txt()
    {
        var cats = File.ReadAllLines(Path.Combine(data.BrownFolder, "cats.txt"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);
        data.BrownDocuments.Should().HaveCount(500);
        data.BrownLabels.Should().HaveCount(15).And.OnlyHaveUniqueItems();
        data.BrownLabels.Should().BeEquivalentTo(cats.Values.Distinct());
        data.BrownLabels[0].Should().Be(cats["ca01"]);
        foreach (var document in data.BrownDocuments)
        {
            data.BrownLabels[document.Label].Should().Be(cats[document.DocumentId]);
            document.Texts.Should().NotBeEmpty();
            document.Texts.Should().OnlyContain(t => t.Split(' ').Length <= BrownCorpus.DefaultChunkWords && !t.Contains("/at ", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void No_document_or_group_is_on_two_sides(string name)
    {
        var task = data.Task(name);
        var views = new[] { task, task.FewShot() };
        foreach (var view in views)
        {
            var sides = new[] { view.Train, view.Validation, view.Test };
            for (var a = 0; a < 3; a++)
            {
                for (var b = a + 1; b < 3; b++)
                {
                    sides[a].Select(e => e.DocumentId).Intersect(sides[b].Select(e => e.DocumentId)).Should().BeEmpty();
                    sides[a].Select(e => e.GroupKey).Intersect(sides[b].Select(e => e.GroupKey)).Should().BeEmpty();
                }
            }
        }

        // The MD5 checksum, read straight from the package, must not cross sides either.
        if (name == SpamAssassinCorpus.TaskName)
        {
            task.Train.Concat(task.Validation).Select(e => e.GroupKey).Intersect(task.Test.Select(e => e.GroupKey)).Should().BeEmpty();
            task.Test.Should().OnlyContain(e => e.GroupKey.StartsWith("md5:", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Split_is_deterministic_stratified_and_independent_of_input_order(string name)
    {
        var documents = data.Documents(name);
        var task = data.Task(name);
        var shuffled = documents.OrderBy(_ => Random.Shared.Next()).ToList();
        var again = TextTask.FromDocuments(task.Name, task.LabelNames, shuffled);
        again.Train.Select(e => e.DocumentId).Should().Equal(task.Train.Select(e => e.DocumentId));
        again.Validation.Select(e => e.DocumentId).Should().Equal(task.Validation.Select(e => e.DocumentId));
        again.Test.Select(e => e.DocumentId).Should().Equal(task.Test.Select(e => e.DocumentId));
        again.Test.Select(e => e.Text).Should().Equal(task.Test.Select(e => e.Text));

        var testDocuments = task.Test.Select(e => e.DocumentId).Distinct().Count();
        ((double)testDocuments / documents.Count).Should().BeInRange(0.18, 0.22);
        for (var label = 0; label < task.LabelNames.Count; label++)
        {
            task.Train.Should().Contain(e => e.Label == label);
            task.Validation.Should().Contain(e => e.Label == label);
            task.Test.Should().Contain(e => e.Label == label);
        }

        // A different fraction moves documents: the split really depends on its inputs.
        var other = TextTask.FromDocuments(task.Name, task.LabelNames, documents, testFraction: 0.3);
        other.Test.Count.Should().BeGreaterThan(task.Test.Count);
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void The_1k_view_has_1000_examples_of_every_class_and_no_test_data(string name)
    {
        var task = data.Task(name);
        var view = task.FewShot();
        view.Name.Should().Be($"{task.Name}-1k");
        (view.Train.Count + view.Validation.Count).Should().Be(1000);
        view.Validation.Count.Should().BeInRange(170, 230);
        view.Test.Should().BeSameAs(task.Test);
        for (var label = 0; label < task.LabelNames.Count; label++)
        {
            view.Train.Should().Contain(e => e.Label == label, $"class {task.LabelNames[label]} must be in the 1k training set");
        }

        var testGroups = task.Test.Select(e => e.GroupKey).ToHashSet();
        view.Train.Concat(view.Validation).Should().OnlyContain(e => !testGroups.Contains(e.GroupKey));
        var trainingSide = task.Train.Concat(task.Validation).ToHashSet();
        view.Train.Concat(view.Validation).Should().OnlyContain(e => trainingSide.Contains(e));

        // Stratified: each class's share within one example (plus the one-per-class floor) of its training-side share.
        for (var label = 0; label < task.LabelNames.Count; label++)
        {
            var share = (double)trainingSide.Count(e => e.Label == label) / trainingSide.Count;
            view.Train.Concat(view.Validation).Count(e => e.Label == label).Should().BeCloseTo((int)Math.Round(share * 1000), 2);
        }

        var again = task.FewShot();
        again.Train.Should().Equal(view.Train);
        again.Validation.Should().Equal(view.Validation);
        task.FewShot(seed: 1).Train.Should().NotEqual(view.Train);
    }
}
