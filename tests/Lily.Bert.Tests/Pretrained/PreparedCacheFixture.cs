using Lily.Bert.Pretrained;

namespace Lily.Bert.Tests.Pretrained;

/// <summary>A temporary cache with both bundled models prepared once, shared by a test class.</summary>
public sealed class PreparedCacheFixture : IDisposable
{
    public PreparedCacheFixture()
    {
        Cache = Directory.CreateTempSubdirectory("lily-bert-cache-").FullName;
        MiniLM = BundledCheckpoints.PrepareCheckpoint(BundledModel.MiniLM, Cache);
        ArcticXs = BundledCheckpoints.PrepareCheckpoint(BundledModel.ArcticXs, Cache);
    }

    public string Cache { get; }

    public PreparedCheckpoint MiniLM { get; }

    public PreparedCheckpoint ArcticXs { get; }

    public PreparedCheckpoint Get(BundledModel model) => model == BundledModel.MiniLM ? MiniLM : ArcticXs;

    public void Dispose() => Directory.Delete(Cache, recursive: true);
}
