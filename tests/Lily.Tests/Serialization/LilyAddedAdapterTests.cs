using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// A Lily adapter that PEFT added after the first (fixture <c>lily_added</c>): PEFT skips the cross-layer sharing
/// for it, so its file holds every layer's own A and pool. It loads as written, computes PEFT's outputs,
/// warns once, and is saved back as it was; adapters created here keep sharing.
/// </summary>
public sealed class LilyAddedAdapterTests
{
    private static readonly string Root = PeftFixtureNet.Dir("lily_added");
    private static readonly string Other = Path.Combine(Root, "other");

    private static float Gap(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void PEFTs_second_adapter_loads_unshared_matches_PEFT_and_warns_once()
    {
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var model = PeftFixtureNet.LoadBase(Root);
        var input = PeftFixtureNet.LoadIo(Root, "input");
        var peft = PeftModel.Load(model, Root, loggerFactory: factory);
        logs.Warnings.Should().BeEmpty("the root adapter's copies agree: it is shared, as PEFT shared it");

        peft.LoadAdapter(Other, "other");

        logs.Warnings.Should().ContainSingle().Which.Should().Contain("'other'").And.Contain("shares nothing").And.Contain("add_adapter");
        Gap(model.call(input), PeftFixtureNet.LoadIo(Root, "expected")).Should().BeLessThan(1e-5f, "the default adapter is unchanged");
        peft.SetAdapter("other");
        Gap(model.call(input), PeftFixtureNet.LoadIo(Root, "expected_other")).Should().BeLessThan(1e-5f, "PEFT's output for 'other'");

        var other = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        other.Should().HaveCount(12);
        other.Select(l => l.LilyA).Distinct().Should().HaveCount(12, "every layer has its own A");
        other.Select(l => l.LilyB).Distinct().Should().HaveCount(12, "and its own pool");
        peft.SetAdapter("default");
        var shared = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        shared.Select(l => l.LilyA).Distinct().Should().HaveCount(6, "ceil(4 / 2) A per target type");
        shared.Select(l => l.LilyB).Distinct().Should().HaveCount(3, "one pool per target type");
        ((LilyConfig)peft.Configs["other"]).ShareAcrossLayers.Should().BeFalse();
    }

    [Fact]
    public void Loaded_first_it_is_unshared_too_and_computes_what_it_computed_in_PEFT()
    {
        // PEFT's from_pretrained would share it and be off by 0.46; the file's own tensors give PEFT's output.
        var model = PeftFixtureNet.LoadBase(Root);
        PeftModel.Load(model, Other);
        Gap(model.call(PeftFixtureNet.LoadIo(Root, "input")), PeftFixtureNet.LoadIo(Root, "expected_other")).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Saved_again_both_files_hold_what_PEFT_wrote()
    {
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(Root), Root);
        peft.LoadAdapter(Other, "other");
        var again = Directory.CreateTempSubdirectory("lily-added-").FullName;
        try
        {
            peft.Save(again);
            foreach (var (theirs, ours) in new[] { (Root, again), (Other, Path.Combine(again, "other")) })
            {
                var want = SafeTensorsReader.ReadFile(Path.Combine(theirs, PeftModel.WeightsFileName));
                var got = SafeTensorsReader.ReadFile(Path.Combine(ours, PeftModel.WeightsFileName));
                got.Names.Should().BeEquivalentTo(want.Names);
                foreach (var entry in got.Entries) entry.Data.ToArray().Should().Equal(want[entry.Name].Data.ToArray(), entry.Name);
                AdapterConfigFile.FromJson(File.ReadAllText(Path.Combine(ours, AdapterConfigFile.FileName)))
                    .Should().BeEquivalentTo(AdapterConfigFile.FromJson(File.ReadAllText(Path.Combine(theirs, AdapterConfigFile.FileName))), o => o.ComparingByMembers<LilyConfig>());
            }
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [Fact]
    public void Lily_state_dicts_set_back_and_an_unshared_one_does_not_fit_a_shared_adapter()
    {
        var model = PeftFixtureNet.LoadBase(Root);
        var peft = PeftModel.Load(model, Root);
        peft.LoadAdapter(Other, "other");
        var shared = peft.GetAdapterStateDict("default");
        var unshared = peft.GetAdapterStateDict("other");
        shared.Should().HaveCount(36);
        ReferenceEquals(shared["base_model.model.model.layers.0.q_proj.lily_A.weight"], shared["base_model.model.model.layers.1.q_proj.lily_A.weight"])
            .Should().BeTrue("one shared tensor, one copy under both keys");

        var wrong = () => peft.SetAdapterStateDict("default", unshared);
        wrong.Should().Throw<InvalidDataException>().WithMessage("*copies of one shared tensor but differ*");
        peft.SetAdapterStateDict("default", shared);
        peft.SetAdapterStateDict("other", unshared);
        var input = PeftFixtureNet.LoadIo(Root, "input");
        Gap(model.call(input), PeftFixtureNet.LoadIo(Root, "expected")).Should().BeLessThan(1e-5f, "the failed set changed nothing");
    }

    [Fact]
    public void An_adapter_added_here_keeps_sharing()
    {
        var peft = PeftModel.Create(new PeftFixtureNet(), new LilyConfig { TargetModules = ["v_proj"], R = 2, StrideA = 2 });
        peft.AddAdapter("other", new LilyConfig { TargetModules = ["v_proj"], R = 2, StrideA = 2 });
        peft.SetAdapter("other");
        var layers = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        layers.Select(l => l.LilyA).Distinct().Should().HaveCount(2);
        layers.Select(l => l.LilyB).Distinct().Should().HaveCount(1);
    }
}
