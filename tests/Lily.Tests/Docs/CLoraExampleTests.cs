using Lily.Analysis;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Docs;

/// <summary>The README's CLoRA example, compiled and checked.</summary>
public sealed class CLoraExampleTests
{
    [Fact]
    public void Train_with_SADE_inspect_the_rank_and_merge()
    {
        manual_seed(43);
        var model = new ToyModel(6, 32, 64, 5);
        var x = randn(8, 32);
        var y = randint(0, 5, [8]);

        // begin-snippet: clora
        var config = new CLoraConfig
        {
            TargetModules = ["q_proj", "v_proj", "fc1"],
            R = 4,                     // rank of each shared base pair and of each layer's cores
            NumBases = 3,              // p: base pairs (D_h, U_h) shared by the layers of a target type
            SadeWeight = 0.1,          // weight of the SADE regularizer in peft.AuxiliaryLoss()
        };
        var peft = PeftModel.Create(model, config);
        var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-2);
        for (int step = 0; step < 10; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y) + peft.AuxiliaryLoss();   // task + SADE
            loss.backward();
            optimizer.step();
        }
        foreach (var layer in peft.Inspect().Layers)   // ΔW's spectrum from the factors: rank up to p·r = 12
            Console.WriteLine($"{layer.Path}: rank {layer.Spectrum.NumericalRank}");
        peft.Merge();                                   // a fixed matrix per layer: folds into W
        // end-snippet

        var inspection = peft.Inspect();
        inspection.Layers.Should().HaveCount(18).And.OnlyContain(l => l.Spectrum.NumericalRank > 4 && l.Spectrum.NumericalRank <= 12,
            "ten steps from Q = 0 take every update beyond the rank r = 4 a LoRA could reach, and never beyond p·r");
        peft.AuxiliaryLoss().item<float>().Should().BeGreaterThan(0);
        peft.Unmerge();
        var adapted = model.call(x);
        using (peft.DisableAdapters())
            model.call(x).allclose(adapted, atol: 1e-5).Should().BeFalse("training moved the update away from zero");
    }
}
