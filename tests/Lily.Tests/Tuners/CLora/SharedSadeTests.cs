using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// SADE over layers that share bases: <see cref="PeftModel{TModel}.AuxiliaryLoss()"/> computes the Gram
/// blocks of each group's D and U once per call (<see cref="AuxiliaryLossContext"/>), and the result and
/// its gradients are still those of the naive d × d formula.
/// </summary>
public sealed class SharedSadeTests
{
    private const int Depth = 4, Dim = 12, Hidden = 16, R = 2, P = 3;
    private const double Weight = 0.25;

    // q_proj, v_proj (12 → 12) and fc1 (12 → 16) over 4 blocks: 12 layers, 3 groups of 4 by target type.
    private static PeftModel<ToyModel> Create(ScalarType dtype, CLoraSharing shareBy = CLoraSharing.TargetType, int seed = 11)
    {
        manual_seed(seed);
        var model = new ToyModel(Depth, Dim, Hidden, 4, dtype);
        return PeftModel.Create(model, new CLoraConfig
        {
            TargetModules = ["q_proj", "v_proj", "fc1"],
            R = R,
            NumBases = P,
            SadeWeight = Weight,
            ShareBy = shareBy,
            InitWeights = false,   // random cores: every pair of terms is non-zero
        });
    }

    private static CLoraLinear[] Layers(PeftModel<ToyModel> peft) => peft.AdaptedModules.Select(a => (CLoraLinear)a.Layer).ToArray();

    private static List<Tensor> Factors(PeftModel<ToyModel> peft) =>
        Layers(peft).SelectMany(l => new Tensor[] { l.D, l.U, l.Q }).Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToList();

    [Fact]
    public void For_layers_sharing_a_group_value_and_gradients_equal_the_naive_formula_in_float64()
    {
        var peft = Create(ScalarType.Float64);
        var layers = Layers(peft);
        layers.Select(l => l.D).Distinct(ReferenceEqualityComparer.Instance).Should().HaveCount(3, "4 layers share each group's D");
        var factors = Factors(peft);
        factors.Should().HaveCount(3 * 2 + 12);

        var fast = peft.AuxiliaryLoss();
        var naive = layers.Select(l => SadeReference.Naive(l.D, l.U, l.Q)).Aggregate((a, b) => a + b) * Weight;
        fast.dtype.Should().Be(ScalarType.Float64);
        fast.item<double>().Should().BeApproximately(naive.item<double>(), 1e-9 * naive.item<double>());

        var gradsFast = autograd.grad([fast], factors);
        var gradsNaive = autograd.grad([naive], factors);
        for (int i = 0; i < factors.Count; i++)
        {
            gradsFast[i].abs().max().item<double>().Should().BeGreaterThan(0, $"factor {i} gets a gradient");
            gradsFast[i].allclose(gradsNaive[i], rtol: 1e-9, atol: 1e-9).Should().BeTrue($"factor {i}'s gradient (shared D and U sum it over their 4 layers)");
        }
    }

    [Theory]
    [InlineData(CLoraSharing.TargetType, 3)]
    [InlineData(CLoraSharing.Shape, 2)]
    public void Each_groups_Gram_blocks_are_computed_once_per_call(CLoraSharing shareBy, int groups)
    {
        var peft = Create(ScalarType.Float32, shareBy);
        int layers = Layers(peft).Length;
        layers.Should().Be(12);
        Layers(peft).Select(l => l.D).Distinct(ReferenceEqualityComparer.Instance).Should().HaveCount(groups);

        var context = new AuxiliaryLossContext();
        peft.AuxiliaryLoss(context);
        context.Computed.Should().Be(2 * groups, "one Gram of D and one of U per group");
        context.Reused.Should().Be(2 * (layers - groups), "every other layer of a group reuses both");

        // Per call, not for ever: the next call (after the bases changed) computes them again.
        var again = new AuxiliaryLossContext();
        peft.AuxiliaryLoss(again);
        again.Computed.Should().Be(2 * groups);
    }

    [Fact]
    public void A_context_used_once_is_refused_by_a_second_call_instead_of_serving_freed_tensors()
    {
        var peft = Create(ScalarType.Float32);
        var context = new AuxiliaryLossContext();
        peft.AuxiliaryLoss(context);

        var reuse = () => peft.AuxiliaryLoss(context);

        reuse.Should().Throw<ArgumentException>().WithParameterName("context").WithMessage("*already used*new context*");
        peft.AuxiliaryLoss(new AuxiliaryLossContext()).item<float>().Should().BeGreaterThan(0);
    }

    [Fact]
    public void The_shared_path_gives_what_the_per_layer_computation_gave_and_follows_a_training_step()
    {
        var peft = Create(ScalarType.Float32);
        var optimizer = optim.SGD(peft.TrainableParameters(), 0.05);
        for (int step = 0; step < 2; step++)
        {
            // The per-layer computation (each layer its own Grams, as before the context existed), same order.
            Tensor? perLayer = null;
            foreach (var l in Layers(peft))
            {
                var term = CLoraSade.Of(l.D, l.U, l.Q).mul(Weight);
                perLayer = perLayer is null ? term : perLayer.add(term);
            }
            var shared = peft.AuxiliaryLoss();
            shared.item<float>().Should().Be(perLayer!.item<float>(), "the same operations in the same order");
            Layers(peft).Select(l => l.AuxiliaryLoss()!.item<float>())
                .Should().Equal(Layers(peft).Select(l => CLoraSade.Of(l.D, l.U, l.Q).mul(Weight).item<float>()), "a layer alone uses a context of its own");

            optimizer.zero_grad();
            shared.backward();
            optimizer.step();   // the bases move: a memo kept across calls would now be stale
        }
    }

    [Fact]
    public void The_calls_shared_tensors_are_freed_with_it_only_the_loss_reaches_the_callers_scope()
    {
        var peft = Create(ScalarType.Float32);
        using var scope = NewDisposeScope();
        int before = scope.DisposablesCount;
        var loss = peft.AuxiliaryLoss();
        (scope.DisposablesCount - before).Should().Be(1, "the Grams and per-layer terms die with the call");
        loss.backward();
        Factors(peft).Should().OnlyContain(p => p.grad!.abs().max().item<float>() > 0, "the freed Grams still carried the gradient to D, U and Q");
    }
}
