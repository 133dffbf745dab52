using Lily.Bert.Tokenization;
using Lily.Bert.Modeling;
using Lily.Bert.Tests.Pretrained;
using Lily.TextClassification.Data;
using Lily.TextClassification.Methods;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Adapters;

/// <summary>
/// Every method on the real pretrained MiniLM, through the same path as the sample (converted checkpoint →
/// strict loader → mean-pooled classifier): it trains (the loss on a fixed batch falls), every adapted layer took
/// part (the library's verdict and its probe), and a saved adapter reloads into a fresh model bit for bit.
/// </summary>
public sealed class PretrainedAdapterTests(PreparedCacheFixture cache) : IClassFixture<PreparedCacheFixture>
{
    private static readonly string[] Texts =
    [
        "Meeting moved to Thursday, see the agenda attached.",
        "WIN a FREE cruise!!! Reply now to claim your prize.",
        "Can you review my patch for the build script?",
        "Cheap meds online, no prescription needed, order today.",
        "The quarterly report is on the shared drive.",
        "Lowest mortgage rates guaranteed, act now!!!",
        "Lunch at noon? The usual place.",
        "You have been selected for a $500 gift card.",
    ];

    private static readonly long[] Labels = [0, 1, 0, 1, 0, 1, 0, 1];

    public static TheoryData<string, string> Methods => new()
    {
        { "lora", TargetSet.QueryValue }, { "dora", TargetSet.QueryValue }, { "lily", TargetSet.QueryValue }, { "clora", TargetSet.QueryValue },
        { "lora", TargetSet.AllLinear }, { "lily", TargetSet.AllLinear }, { "clora", TargetSet.AllLinear },
    };

    private BertForSequenceClassification Classifier(int seed)
    {
        manual_seed(seed);
        return BertForSequenceClassification.FromPretrained(cache.MiniLM.Directory, 2, Pooling.Mean, ignorePrefixes: ["pooler."]);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Method_Trains_TakesPartEverywhere_AndReloadsBitExact(string method, string targets)
    {
        var encoder = new TextEncoder(cache.MiniLM.VocabPath, cache.MiniLM.LowerCase);
        using var batch = encoder.Encode(Texts, maxLength: 24);
        using var labels = tensor(Labels);
        using var model = Classifier(seed: 1);
        var chosen = MethodCatalog.For(model, [method], targets, loraRank: 4).Single();
        var peft = PeftModel.Create(model, chosen.Config!);
        int adapted = peft.AdaptedModules.Count;
        adapted.Should().Be(targets == TargetSet.QueryValue ? 2 * 6 : 6 * 6, "every layer's targets, and nothing else (the pooler is left out)");

        var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 5e-3);
        double first = 0, last = 0;
        model.train();
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(batch.InputIds, batch.AttentionMask), labels);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        last.Should().BeLessThan(first * 0.8, $"{method} on {targets}: the loss on a fixed batch falls ({first:F3} → {last:F3})");

        // The library's verdict over the training passes, then its probe of an inference pass.
        peft.VerifyAdaptersApplied();
        model.eval();
        var probe = peft.ProbeAdapters(() => model.call(batch.InputIds, batch.AttentionMask));
        probe.Applied.Should().HaveCount(adapted, probe.ToString());

        using var noGrad = no_grad();
        using var before = model.call(batch.InputIds, batch.AttentionMask);
        var folder = Directory.CreateTempSubdirectory("lily-bert-adapter-").FullName;
        try
        {
            peft.Save(folder);
            using var fresh = Classifier(seed: 2);
            var loaded = PeftModel.Load(fresh, folder);
            fresh.eval();
            using var after = fresh.call(batch.InputIds, batch.AttentionMask);
            after.eq(before).all().item<bool>().Should().BeTrue($"{method}: a saved adapter reloads bit for bit (max difference {(after - before).abs().max().item<float>()})");
            // And it is not the base model's output: the adapter and the trained head changed it.
            using (loaded.DisableAdapters())
            using (var without = fresh.call(batch.InputIds, batch.AttentionMask))
                without.eq(after).all().item<bool>().Should().BeFalse();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
