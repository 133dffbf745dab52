using Lily.Injection;
using Lily.Tests.Injection;
using Lily.Tests.Support.Bypass;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 8: serving runs one model from many threads. The per-site counters lose no count under
/// concurrent forwards, and the verdict after them is right.
/// </summary>
public sealed class ConcurrentInferenceTests
{
    private const int Threads = 4, PassesPerThread = 1500;


    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void Concurrent_forwards_count_every_pass_and_give_a_true_verdict(string method, AdapterAttachment mode)
    {
        manual_seed(31);
        var block = new UsageBlock(BypassModel.Dim, Usage.Call, replaceable: mode == AdapterAttachment.Replace);
        var model = new BypassModel(block);
        var peft = PeftModel.Create(model, Config(method, "fc"), attachment: mode);
        GiveUpdates(peft);
        model.eval();
        var x = Input(BypassModel.Dim);
        Tensor expected;
        using (no_grad()) expected = model.call(x);
        var site = peft.Sites.Single();
        long before = site.Applications;
        using var start = new Barrier(Threads);
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var workers = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            try
            {
                Work();
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        })).ToList();
        void Work()
        {
            using var input = x.clone();
            start.SignalAndWait();
            for (int i = 0; i < PassesPerThread; i++)
            {
                using var scope = NewDisposeScope();
                using (no_grad())
                {
                    var y = model.call(input);
                    if (!y.allclose(expected, atol: 1e-6)) throw new InvalidOperationException("a concurrent forward computed another output");
                }
            }
        }
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        failures.Should().BeEmpty();
        (site.Applications - before).Should().Be(Threads * PassesPerThread, "no pass is lost");
        peft.VerifyAdaptersApplied();
    }
}
