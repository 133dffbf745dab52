using Lily.Bert.Conversion;
using Lily.Bert.Modeling;
using Lily.Bert.Pretrained;
using Lily.Serialization;

namespace Lily.Bert.Tests.Pretrained;

public sealed class BundledCheckpointsTests(PreparedCacheFixture fixture) : IClassFixture<PreparedCacheFixture>
{
    [Theory]
    [InlineData(BundledModel.MiniLM, true)]
    [InlineData(BundledModel.ArcticXs, false)]
    public void BothBundledModels_Prepare_ToAVerifiedCheckpoint(BundledModel model, bool pooler)
    {
        var prepared = fixture.Get(model);
        prepared.Directory.Should().StartWith(Path.Combine(fixture.Cache, model.ToString().ToLowerInvariant()));
        BundledCheckpoints.IsComplete(prepared.Directory).Should().BeTrue();

        var config = BertConfig.Load(prepared.ConfigPath);
        (config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.IntermediateSize).Should().Be((384, 6, 12, 1536));
        File.ReadAllLines(prepared.VocabPath).Length.Should().Be(config.VocabSize, "one vocab line per word-embedding row");

        var (tensors, _) = SafeTensorsFile.Read(prepared.WeightsPath);
        try
        {
            tensors.Should().HaveCount(OnnxBertConverter.ExpectedShapes(config, pooler).Count);
            tensors.ContainsKey("pooler.dense.weight").Should().Be(pooler, "the ArcticXs export has no pooler");
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    [Theory]
    [InlineData(BundledModel.MiniLM)]
    [InlineData(BundledModel.ArcticXs)]
    public void LowerCase_MatchesTheVocabulary(BundledModel model)
    {
        // An uncased WordPiece vocabulary is unchanged by lower-casing outside its [SPECIAL] tokens (symbols such as ℝ count as upper-case but have no lower case).
        var prepared = fixture.Get(model);
        var cased = File.ReadLines(prepared.VocabPath).Any(t => !(t.StartsWith('[') && t.EndsWith(']')) && t.ToLowerInvariant() != t);
        prepared.LowerCase.Should().Be(!cased);
    }

    [Fact]
    public void PreparingAgain_ReusesTheCachedFolder()
    {
        var weights = fixture.MiniLM.WeightsPath;
        var written = File.GetLastWriteTimeUtc(weights);
        BundledCheckpoints.Prepare(BundledModel.MiniLM, fixture.Cache).Should().Be(fixture.MiniLM.Directory);
        File.GetLastWriteTimeUtc(weights).Should().Be(written);
    }

    [Fact]
    public void ACorruptedCacheFile_IsDetected_AndReconverted()
    {
        var cache = Directory.CreateTempSubdirectory("lily-bert-corrupt-").FullName;
        try
        {
            var prepared = BundledCheckpoints.PrepareCheckpoint(BundledModel.MiniLM, cache);
            var good = File.ReadAllBytes(prepared.WeightsPath);
            using (var stream = File.OpenWrite(prepared.WeightsPath)) stream.SetLength(good.Length / 2);
            BundledCheckpoints.IsComplete(prepared.Directory).Should().BeFalse();

            BundledCheckpoints.Prepare(BundledModel.MiniLM, cache).Should().Be(prepared.Directory);
            File.ReadAllBytes(prepared.WeightsPath).Should().Equal(good);
            BundledCheckpoints.IsComplete(prepared.Directory).Should().BeTrue();
            Directory.GetDirectories(Path.GetDirectoryName(prepared.Directory)!).Should().ContainSingle("temporary and stale folders are removed");
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public void ConcurrentPreparations_AgreeOnOneCompleteFolder()
    {
        var cache = Directory.CreateTempSubdirectory("lily-bert-race-").FullName;
        try
        {
            var results = Enumerable.Range(0, 2).AsParallel().WithDegreeOfParallelism(2)
                .Select(_ => BundledCheckpoints.Prepare(BundledModel.MiniLM, cache)).ToList();
            results.Distinct().Should().ContainSingle();
            BundledCheckpoints.IsComplete(results[0]).Should().BeTrue();
            Directory.GetDirectories(Path.GetDirectoryName(results[0])!).Should().ContainSingle();
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
