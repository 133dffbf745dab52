using System.Globalization;
using Lily.Distributed.Worker;
using Lily.Distributed;
using Lily.Tuners;
using Lily;
using TorchSharp;
using static TorchSharp.torch;

// Usage: worker <single|parallel> <lora|lily|lily-batchmean> <float32|float64> <steps> <globalBatch> <outputFile> [throwRank throwStep]
// parallel runs under mpiexec and writes <outputFile>.rank<r>; single runs alone on the full batch and writes <outputFile>.
if (args.Length < 6)
{
    Console.Error.WriteLine("usage: worker <single|parallel> <lora|lily> <float32|float64> <steps> <globalBatch> <outputFile> [throwRank throwStep]");
    return 2;
}

var parallel = args[0] == "parallel";
var method = args[1];
var dtype = args[2] == "float64" ? ScalarType.Float64 : ScalarType.Float32;
var steps = int.Parse(args[3], CultureInfo.InvariantCulture);
var globalBatch = int.Parse(args[4], CultureInfo.InvariantCulture);
var output = args[5];
var throwRank = args.Length > 7 ? int.Parse(args[6], CultureInfo.InvariantCulture) : -1;
var throwStep = args.Length > 7 ? int.Parse(args[7], CultureInfo.InvariantCulture) : -1;
const int dim = 16, classes = 5;

torch.set_num_threads(1);
using var world = parallel ? MpiWorld.Initialize() : null;
// LILY_WORKER_END_GRACE_SECONDS shortens how long a rank that ends waits for the others (a test of an early return).
if (world is not null && Environment.GetEnvironmentVariable("LILY_WORKER_END_GRACE_SECONDS") is { Length: > 0 } grace)
    world.EndGrace = TimeSpan.FromSeconds(double.Parse(grace, CultureInfo.InvariantCulture));
// LILY_WORKER_RETURN_EARLY_RANK makes that rank return from Main at step 2 while the others go on into the step's all-reduce.
var returnEarlyRank = Environment.GetEnvironmentVariable("LILY_WORKER_RETURN_EARLY_RANK") is { Length: > 0 } early
    ? int.Parse(early, CultureInfo.InvariantCulture)
    : -1;
var rank = world?.Rank ?? 0;
var size = world?.Size ?? 1;

torch.manual_seed(1234);
var net = new WorkerNet(dim, classes, dtype);
// LILY_WORKER_LAST_RANK_RANK gives the last rank another adapter rank: a model that differs between ranks.
var loraRank = rank == size - 1 && Environment.GetEnvironmentVariable("LILY_WORKER_LAST_RANK_RANK") is { Length: > 0 } r
    ? int.Parse(r, CultureInfo.InvariantCulture)
    : 4;
// Lily routes per sample here: its default (BatchMean, one mixture per batch) depends on the whole batch,
// so a rank's part of a batch routes differently from the whole (docs/distributed.md).
PeftConfig config = method.StartsWith("lily", StringComparison.Ordinal)
    ? new LilyConfig
    {
        TargetModulesRegex = "fc\\d|rare", R = 4, StrideA = 2, NumB = 2, ModulesToSave = ["head"],
        Routing = method == "lily-batchmean" ? LilyRouting.BatchMean : LilyRouting.PerSample,
    }
    : new LoraConfig { TargetModules = ["fc1", "fc2", "fc3", "rare"], R = loraRank, ModulesToSave = ["head"] };
var peft = PeftModel.Create(net, config);
foreach (var p in peft.TrainableParameters())
{
    // Lily's and LoRA's B start at zero; give every tensor a value, different on every rank, so that
    // the broadcast has something to do and gradients flow everywhere from the first step.
    using var noGrad = no_grad();
    p.add_(randn_like(p) * 0.1 * (1 + rank));
}

// LILY_WORKER_BUCKET_BYTES makes the buckets small, so that a step takes several all-reduces.
var bucketBytes = Environment.GetEnvironmentVariable("LILY_WORKER_BUCKET_BYTES") is { Length: > 0 } b
    ? long.Parse(b, CultureInfo.InvariantCulture)
    : DataParallel.DefaultBucketBytes;
var dp = world is null ? null : DataParallel.Create(peft, world, bucketBytes);
var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 0.01);
for (var step = 0; step < steps; step++)
{
    using var scope = NewDisposeScope();
    if (step == throwStep && rank == throwRank) throw new InvalidOperationException($"deliberate failure on rank {rank} at step {step}");
    if (step == 2 && rank == returnEarlyRank) return 4;
    var generator = new Generator((ulong)(1000 + step));
    var x = randn([globalBatch, dim], dtype: dtype, generator: generator);
    var y = randint(0, classes, [globalBatch], generator: generator);
    var shard = Shards.Range(globalBatch, rank, size);
    // The first sample of the global batch takes the extra path on even steps: only its rank gets rare's gradient.
    net.RareRows = step % 2 == 0 && shard.Start == 0 && shard.Length > 0 ? 1 : 0;
    optimizer.zero_grad();
    if (shard.Length > 0)
    {
        var loss = nn.functional.cross_entropy(net.call(x.narrow(0, shard.Start, shard.Length)), y.narrow(0, shard.Start, shard.Length));
        loss.backward();
    }

    dp?.AverageGradients(shard.Length);
    optimizer.step();
}

var names = net.named_parameters().Where(np => np.parameter.requires_grad).ToList();
var path = parallel ? $"{output}.rank{rank}" : output;
using (var writer = new BinaryWriter(File.Create(path)))
{
    writer.Write(names.Count);
    foreach (var (name, p) in names)
    {
        var values = p.detach().to(ScalarType.Float64).cpu().data<double>().ToArray();
        writer.Write(name);
        writer.Write(values.Length);
        foreach (var v in values) writer.Write(v);
    }
}

// Rank 0 writes the adapter; the others wait for it. LILY_WORKER_ADAPTER_DIR chooses where (a test makes it unwritable).
try
{
    dp?.Save(Environment.GetEnvironmentVariable("LILY_WORKER_ADAPTER_DIR") is { Length: > 0 } adapterDir ? adapterDir : $"{output}.adapter");
}
catch (IOException e)
{
    // Every rank learns of rank 0's failure and can end normally.
    Console.WriteLine($"save failed on rank {rank}: {e.GetType().Name}: {e.Message}");
    return 3;
}

if (dp is not null && world!.IsRoot)
{
    var modes = string.Join(", ", peft.Sites.GroupBy(site => site.Attachment).OrderBy(g => g.Key.ToString()).Select(g => $"{g.Key} {g.Count()}"));
    Console.WriteLine($"ranks {world.Size}, tensors {dp.TensorCount}, elements {dp.GradientElements}, buckets {dp.BucketCount}, attachments {modes}, library {world.LibraryPath}");
}

return 0;
