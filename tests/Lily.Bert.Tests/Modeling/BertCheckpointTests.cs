using Lily.Bert.Modeling;
using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Modeling;

public sealed class BertCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bert-checkpoint-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Saved(BertModel model)
    {
        var dir = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        model.SavePretrained(dir);
        return dir;
    }

    /// <summary>Rewrites a saved checkpoint's tensors through <paramref name="edit"/>.</summary>
    private static string Rewrite(string dir, Action<Dictionary<string, Tensor>> edit)
    {
        var path = Path.Combine(dir, BertCheckpoint.WeightsFileName);
        var (tensors, _) = SafeTensorsFile.Read(path);
        edit(tensors);
        SafeTensorsFile.Write(path, tensors);
        foreach (var t in tensors.Values) t.Dispose();
        return path;
    }

    private static Tensor Run(nn.Module<Tensor, Tensor, Tensor> model)
    {
        var ids = TinyBert.Ids(99, 2, 6);
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 0, 0 } });
        return model.call(ids, mask);
    }

    private static void ShouldEqual(nn.Module actual, IReadOnlyDictionary<string, Tensor> expected)
    {
        var state = actual.state_dict();
        state.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, value) in expected) TinyBert.BitEqual(state[name], value).Should().BeTrue(name);
    }

    [Fact]
    public void SaveThenLoad_IsBitExact()
    {
        using var model = TinyBert.Create(seed: 1);
        var dir = Saved(model);
        var (tensors, metadata) = SafeTensorsFile.Read(Path.Combine(dir, BertCheckpoint.WeightsFileName));
        tensors.Keys.Should().BeEquivalentTo(model.state_dict().Keys);
        metadata["format"].Should().Be("pt");

        using var loaded = BertModel.FromPretrained(dir);
        loaded.eval();
        loaded.HasPooler.Should().BeTrue();
        loaded.Config.Should().Be(TinyBert.Config);
        using var scope = NewDisposeScope();
        TinyBert.BitEqual(Run(loaded), Run(model)).Should().BeTrue();
        ShouldEqual(loaded, model.state_dict());
    }

    [Fact]
    public void MissingExtraAndMisshapedTensors_AreAllNamed_AndTheModelIsUnchanged()
    {
        using var source = TinyBert.Create(seed: 2);
        var dir = Saved(source);
        var path = Rewrite(dir, t =>
        {
            t.Remove("encoder.layer.1.output.dense.bias");
            t.Remove("embeddings.LayerNorm.bias");
            t["encoder.layer.2.output.dense.bias"] = zeros(32);
            t["extra.tensor"] = zeros(3);
            // Last in name order: a loader that copied as it went would have changed everything before it.
            t["pooler.dense.weight"] = zeros(32, 31);
        });

        using var target = TinyBert.Create(seed: 3);
        var before = TinyBert.Snapshot(target);
        var act = () => BertCheckpoint.Load(target, path);
        act.Should().Throw<InvalidDataException>()
            .WithMessage($"*{path}*")
            .WithMessage("*encoder.layer.1.output.dense.bias*").WithMessage("*embeddings.LayerNorm.bias*")
            .WithMessage("*encoder.layer.2.output.dense.bias*").WithMessage("*extra.tensor*")
            .WithMessage("*pooler.dense.weight: expected shape [32, 32], found [32, 31]*");
        ShouldEqual(target, before);

        var fromDir = () => BertModel.FromPretrained(dir);
        fromDir.Should().Throw<InvalidDataException>().WithMessage("*missing from the file (2)*unexpected in the file (2)*");
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("extra")]
    [InlineData("shape")]
    public void EachSingleMismatch_IsRefused(string kind)
    {
        using var model = TinyBert.Create(seed: 4);
        var dir = Saved(model);
        Rewrite(dir, t =>
        {
            switch (kind)
            {
                case "missing": t.Remove("encoder.layer.0.attention.self.key.weight"); break;
                case "extra": t["encoder.layer.0.attention.self.other.weight"] = zeros(32, 32); break;
                default: t["embeddings.word_embeddings.weight"] = zeros(51, 32); break;
            }
        });
        var named = kind switch
        {
            "missing" => "*encoder.layer.0.attention.self.key.weight*",
            "extra" => "*encoder.layer.0.attention.self.other.weight*",
            _ => "*embeddings.word_embeddings.weight: expected shape [50, 32], found [51, 32]*",
        };
        var act = () => BertModel.FromPretrained(dir);
        act.Should().Throw<InvalidDataException>().WithMessage(named).WithMessage($"*{BertCheckpoint.WeightsFileName}*");
    }

    [Fact]
    public void BertPrefix_IsAccepted_AndHeadsNeedAnExplicitIgnore()
    {
        using var model = TinyBert.Create(seed: 5);
        var dir = Saved(model);
        Rewrite(dir, t =>
        {
            foreach (var name in t.Keys.ToList())
            {
                t["bert." + name] = t[name];
                t.Remove(name);
            }

            t["cls.predictions.bias"] = zeros(50);
            t["bert.embeddings.position_ids"] = arange(16, dtype: ScalarType.Int64).unsqueeze(0);
        });

        var strict = () => BertModel.FromPretrained(dir);
        strict.Should().Throw<InvalidDataException>().WithMessage("*unexpected in the file (1): cls.predictions.bias*");

        using var loaded = BertModel.FromPretrained(dir, ignorePrefixes: ["cls."]);
        loaded.eval();
        using var scope = NewDisposeScope();
        TinyBert.BitEqual(Run(loaded), Run(model)).Should().BeTrue();
    }

    [Fact]
    public void PositionIds_OtherThanArange_AreRefused()
    {
        using var model = TinyBert.Create(seed: 6);
        var dir = Saved(model);
        Rewrite(dir, t => t["embeddings.position_ids"] = arange(16, dtype: ScalarType.Int64).flip(0).unsqueeze(0));
        var act = () => BertModel.FromPretrained(dir);
        act.Should().Throw<InvalidDataException>().WithMessage("*embeddings.position_ids*0..15*");
    }

    [Theory]
    [InlineData(ScalarType.Float16, ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16, ScalarType.Float32)]
    [InlineData(ScalarType.Float64, ScalarType.Float32)]
    [InlineData(ScalarType.Float32, ScalarType.Float64)]
    public void StoredDtype_IsConvertedToTheModels(ScalarType stored, ScalarType modelDtype)
    {
        using var model = TinyBert.Create(seed: 7);
        var dir = Saved(model);
        Rewrite(dir, t =>
        {
            foreach (var name in t.Keys.ToList()) t[name] = t[name].to(stored);
        });

        using var loaded = BertModel.FromPretrained(dir, dtype: modelDtype);
        using var scope = NewDisposeScope();
        var source = model.state_dict();
        foreach (var (name, p) in loaded.state_dict())
        {
            p.dtype.Should().Be(modelDtype);
            TinyBert.BitEqual(p, source[name].to(stored).to(modelDtype)).Should().BeTrue(name);
        }
    }

    [Fact]
    public void Classifier_LoadsEncoder_AndItsHeadOnlyWhenShapesFit()
    {
        using var encoder = TinyBert.Create(seed: 8, pooler: false);
        var bare = Saved(encoder);
        using var fresh = BertForSequenceClassification.FromPretrained(bare, numLabels: 3, pooling: Pooling.Mean);
        fresh.ClassifierLoaded.Should().BeFalse();
        fresh.Bert.HasPooler.Should().BeFalse();
        ShouldEqual(fresh.Bert, encoder.state_dict());

        // A BertForSequenceClassification checkpoint round-trips with its head.
        using var trained = new BertForSequenceClassification(TinyBert.Config, numLabels: 3, pooling: Pooling.Pooler);
        TinyBert.Randomize(trained, seed: 9);
        trained.eval();
        var dir = Path.Combine(_dir, "classifier");
        trained.SavePretrained(dir);
        SafeTensorsFile.Read(Path.Combine(dir, BertCheckpoint.WeightsFileName)).Tensors.Keys.Should().Contain(["bert.embeddings.word_embeddings.weight", "classifier.weight"]);

        using var again = BertForSequenceClassification.FromPretrained(dir, numLabels: 3);
        again.eval();
        again.ClassifierLoaded.Should().BeTrue();
        using (var scope = NewDisposeScope())
        {
            var logits = Run(again);
            logits.shape.Should().Equal(2, 3);
            TinyBert.BitEqual(logits, Run(trained)).Should().BeTrue();
        }

        // Another label count: the encoder loads, the head starts fresh.
        using var other = BertForSequenceClassification.FromPretrained(dir, numLabels: 5);
        other.ClassifierLoaded.Should().BeFalse();
        other.Classifier.weight!.shape.Should().Equal(5, 32);
        ShouldEqual(other.Bert, trained.Bert.state_dict());
    }
}
