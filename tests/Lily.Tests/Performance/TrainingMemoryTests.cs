using System.Diagnostics;
using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Lily.Tests.Performance;

/// <summary>
/// A long training run of an adapted model must not leak: after warm-up, neither the number of
/// live tensors nor the process's resident memory may keep growing. No timings are asserted.
/// </summary>
public class TrainingMemoryTests(ITestOutputHelper output)
{
    private const int Steps = 1000;
    private const int WarmUpSteps = 100;
    private const int CollectEvery = 50;

    // Any per-step leak of a single tensor gives at least Steps - WarmUpSteps = 900.
    private const long LiveTensorSlack = 10;

    // Loose: the allocator may still settle after warm-up. The live-tensor count catches any
    // leaked handle; this catches memory held natively (e.g. autograd graphs kept alive).
    private const long ResidentGrowthBound = 20L * 1024 * 1024;

    // "hook": adapters attached by forward hooks instead of replacing the layers.
    public static TheoryData<string> Methods => new() { "LoRA", "Lily BatchMean", "Lily PerSample", "Lily PerToken", "LoRA hook", "Lily BatchMean hook" };

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_thousand_training_steps_with_AdamW_leave_native_memory_flat(string method)
    {
        // Memory, not speed, is under test: one intra-op thread keeps 1000 steps of tiny ops quick
        // on a loaded machine, where idle OpenMP workers would otherwise wait for CPU at every op.
        int threads = get_num_threads();
        set_num_threads(1);
        try
        {
            Train(method);
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    private void Train(string method)
    {
        manual_seed(7);
        var model = new ToyModel(depth: 2, dim: 32, hidden: 64, classes: 5);
        string[] targets = ["q_proj", "k_proj", "v_proj", "fc1", "fc2"];
        var words = method.Split(' ');
        PeftConfig config = words[0] switch
        {
            "LoRA" => new LoraConfig { TargetModules = targets, ModulesToSave = ["head"], R = 4 },
            _ => new LilyConfig { TargetModules = targets, ModulesToSave = ["head"], R = 4, Routing = Enum.Parse<LilyRouting>(words[1]) },
        };
        var attachment = words[^1] == "hook" ? AdapterAttachment.Hook : AdapterAttachment.Auto;
        var peft = PeftModel.Create(model, config, attachment: attachment);
        peft.Sites.Should().OnlyContain(s => s.Attachment == (attachment == AdapterAttachment.Hook ? AdapterAttachment.Hook : AdapterAttachment.Replace));
        using var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-3);
        using var inputs = randn(8, 16, 32);
        using var labels = randint(5, [8 * 16]);

        long liveAtWarmUp = 0, residentAtWarmUp = 0;
        float firstLoss = 0, lastLoss = 0;
        for (int step = 1; step <= Steps; step++)
        {
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(inputs).reshape(-1, 5), labels);
                loss.backward();
                optimizer.step();
                if (step == 1) firstLoss = loss.item<float>();
                if (step == Steps) lastLoss = loss.item<float>();
            }
            // Collect regularly: objects that wrap native memory and are dropped without Dispose
            // (numbers turned into TorchSharp scalars, for one) free it only when finalized, and the
            // heap keeps what was freed late. Garbage is not growth: what must stay flat is what
            // something still holds.
            if (step % CollectEvery == 0) Collect();
            if (step == WarmUpSteps) (liveAtWarmUp, residentAtWarmUp) = Snapshot();
        }
        var (liveAtEnd, residentAtEnd) = Snapshot();
        output.WriteLine($"{method}: live tensors {liveAtWarmUp} -> {liveAtEnd}, resident {residentAtWarmUp / 1048576.0:F1} -> {residentAtEnd / 1048576.0:F1} MiB, loss {firstLoss:F3} -> {lastLoss:F3}");

        lastLoss.Should().BeLessThan(firstLoss, "the loop really trains the adapter");
        (liveAtEnd - liveAtWarmUp).Should().BeLessThanOrEqualTo(LiveTensorSlack,
            $"tensors created and not disposed on this thread must not pile up over {Steps - WarmUpSteps} steps of {method}");
        (residentAtEnd - residentAtWarmUp).Should().BeLessThan(ResidentGrowthBound,
            $"resident memory must stay flat after warm-up ({residentAtWarmUp / 1048576.0:F1} MiB at step {WarmUpSteps}, {residentAtEnd / 1048576.0:F1} MiB at step {Steps})");
    }

    // Live tensors of this thread (TorchSharp's own count: created minus disposed) and resident
    // memory, after the garbage collector has run every pending finalizer.
    private static (long LiveTensors, long Resident) Snapshot()
    {
        Collect();
        using var self = Process.GetCurrentProcess();
        return (DisposeScopeManager.Statistics.ThreadTotalLiveCount, self.WorkingSet64);
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
