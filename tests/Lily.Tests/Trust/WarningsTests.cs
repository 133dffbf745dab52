using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 13: findings reach a person without a logger, through <c>PeftModel.Warnings</c>, for
/// every method: a target entry that matches nothing while others match, and a rank above min(in, out).
/// </summary>
public sealed class WarningsTests
{
    public static TheoryData<string> Methods() => [.. Injection.BypassZoo.Methods];

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_target_entry_that_matches_nothing_is_in_Warnings_without_a_logger(string method)
    {
        var peft = PeftModel.Create(new ToyModel(1, 6, 4, 3), Config(method, rank: 2, "q_proj", "q_porj"));
        peft.Warnings.Should().ContainSingle(w => w.Contains("'q_porj' match no module")).Which.Should().StartWith("Adapter 'default':");
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_rank_above_a_layers_size_is_in_Warnings_without_a_logger(string method)
    {
        var model = new ToyModel(1, 6, 4, 3);   // q_proj 6→6, fc1 6→4
        var peft = PeftModel.Create(model, Config(method, rank: 5, "q_proj", "fc1"));
        peft.Warnings.Should().ContainSingle(w => w.Contains("exceeds min(in, out)"))
            .Which.Should().Contain("fc1 (r = 5, effective rank ≤ 4)").And.NotContain("q_proj");
    }

    [Fact]
    public void A_model_with_nothing_to_say_has_no_warnings()
    {
        PeftModel.Create(new ToyModel(1, 6, 4, 3), new LoraConfig { TargetModules = ["q_proj"], R = 2 }).Warnings.Should().BeEmpty();
    }

    // CLoRA's rank is p·r: 5 bases of rank 1.
    private static PeftConfig Config(string method, int rank, params string[] targets) => method switch
    {
        "lily" => new LilyConfig { TargetModules = targets, R = rank, NumB = 2 },
        "clora" => new CLoraConfig { TargetModules = targets, R = 1, NumBases = rank },
        _ => new LoraConfig { TargetModules = targets, R = rank, UseDora = method == "dora" },
    };
}
