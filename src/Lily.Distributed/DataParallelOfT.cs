using System.Runtime.InteropServices;
using Lily.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Distributed;

/// <summary>
/// Data-parallel training of a PEFT model's trainable tensors (the active adapter's and its modules to
/// save, as <see cref="PeftModel{TModel}.TrainableParameters"/> lists them: a Lily tensor shared by
/// several layers once). Every rank runs the same program on its own part of each batch; after
/// <c>loss.backward()</c>, <see cref="AverageGradients()"/> leaves every rank with the gradient of the
/// whole batch, so the optimizers, started from the same values, stay identical. Everything travels in
/// flat float32/float64 buffers (one all-reduce per bucket, usually one per step); the frozen base is
/// never sent. Create it with <see cref="DataParallel.Create"/>.
/// </summary>
/// <typeparam name="TModel">The model's type.</typeparam>
public sealed class DataParallel<TModel> where TModel : torch.nn.Module
{
    private readonly long bucketBytes;
    private readonly Dictionary<ScalarType, Tensor> buffers = new();
    private FlatLayout layout;

    internal DataParallel(PeftModel<TModel> peft, MpiWorld world, long bucketBytes, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(peft);
        ArgumentNullException.ThrowIfNull(world);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketBytes, 8L);
        Peft = peft;
        World = world;
        this.bucketBytes = bucketBytes;
        layout = Describe(peft.TrainableParameters());
        CheckSameOnEveryRank();
        BroadcastParameters();
        if (world.IsRoot && world.Size > 1) WarnOfBatchRouting(logger);
    }

    /// <summary>The model being trained.</summary>
    public PeftModel<TModel> Peft { get; }

    /// <summary>The MPI job.</summary>
    public MpiWorld World { get; }

    /// <summary>The number of trainable tensors (each shared tensor once).</summary>
    public int TensorCount => layout.Count;

    /// <summary>The number of gradient elements each step sends.</summary>
    public long GradientElements => layout.Elements;

    /// <summary>The number of all-reduce calls per step (buckets).</summary>
    public int BucketCount => layout.Buckets.Count;

    /// <summary>Seconds spent inside <c>MPI_Allreduce</c> by the last <see cref="AverageGradients()"/>.</summary>
    public double LastAllReduceSeconds { get; private set; }

    /// <summary>Seconds the last <see cref="AverageGradients()"/> took in all: copying in, all-reduce, copying out.</summary>
    public double LastSynchronizeSeconds { get; private set; }

    /// <summary>Seconds spent inside <c>MPI_Allreduce</c> by all <see cref="AverageGradients()"/> calls so far.</summary>
    public double TotalAllReduceSeconds { get; private set; }

    /// <summary>The number of <see cref="AverageGradients()"/> calls so far.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Copies rank 0's trainable values to every rank. <see cref="DataParallel.Create"/> does it once;
    /// call it again after loading values on rank 0 only.
    /// </summary>
    public void BroadcastParameters()
    {
        var parameters = Current();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var bucket in layout.Buckets)
        {
            var flat = Buffer(bucket);
            if (World.IsRoot)
            {
                foreach (var s in bucket.Segments) flat.narrow(0, s.Offset, s.Length).copy_(parameters[s.Parameter].detach().reshape(-1));
            }

            Broadcast(flat);
            if (!World.IsRoot)
            {
                foreach (var s in bucket.Segments) parameters[s.Parameter].copy_(flat.narrow(0, s.Offset, s.Length).view(layout.Shapes[s.Parameter]));
            }
        }
    }

    /// <summary>
    /// Replaces every trainable gradient with its mean over the ranks; call it on every rank after
    /// <c>loss.backward()</c> and before <c>optimizer.step()</c>. Right when every rank's loss is a mean
    /// over the same number of samples; with uneven parts use <see cref="AverageGradients(long)"/>.
    /// </summary>
    public void AverageGradients() => AverageGradients(1);

    /// <summary>
    /// Replaces every trainable gradient with the average of the ranks' gradients weighted by
    /// <paramref name="localSamples"/>: with each rank's loss the mean over its own samples, the result is
    /// the gradient of the mean loss over all samples of all ranks, as one process on the whole batch would
    /// get. A rank with no samples passes 0. A tensor with no gradient (never used in a backward) counts as
    /// zeros; it gets a gradient on every rank if it got one on any rank, and stays without one otherwise,
    /// so the optimizers stay alike.
    /// </summary>
    /// <param name="localSamples">This rank's number of samples in the step (at most 2^24).</param>
    public void AverageGradients(long localSamples)
    {
        if (localSamples < 0 || localSamples > FlatLayout.MaxExactWeight)
        {
            throw new ArgumentOutOfRangeException(nameof(localSamples), localSamples, $"The local sample count must be 0 to {FlatLayout.MaxExactWeight}.");
        }

        var parameters = Current();
        var started = World.WallTime();
        var reduceSeconds = 0.0;
        using (var scope = NewDisposeScope())
        {
            bool[]? anywhere = null;
            double total = 0;
            foreach (var bucket in layout.Buckets)
            {
                var flat = Buffer(bucket);
                if (bucket.HasTail)
                {
                    for (var i = 0; i < parameters.Count; i++) flat[i] = parameters[i].grad is null ? 0 : 1;
                    flat[parameters.Count] = localSamples;
                }

                foreach (var s in bucket.Segments)
                {
                    var part = flat.narrow(0, s.Offset, s.Length);
                    if (parameters[s.Parameter].grad is { } grad)
                    {
                        part.copy_(grad.reshape(-1));
                        if (localSamples != 1) part.mul_(localSamples);
                    }
                    else
                    {
                        part.zero_();
                    }
                }

                var before = World.WallTime();
                AllReduce(flat);
                reduceSeconds += World.WallTime() - before;

                if (bucket.HasTail)
                {
                    var tail = flat.narrow(0, 0, parameters.Count + 1).to(ScalarType.Float64).cpu().data<double>().ToArray();
                    anywhere = tail.Take(parameters.Count).Select(f => f > 0).ToArray();
                    total = tail[parameters.Count];
                }

                foreach (var s in bucket.Segments)
                {
                    var p = parameters[s.Parameter];
                    if (!anywhere![s.Parameter]) continue;
                    var part = flat.narrow(0, s.Offset, s.Length);
                    if (total > 0) part.div_(total);
                    var values = part.view(layout.Shapes[s.Parameter]);
                    if (p.grad is { } grad) grad.copy_(values);
                    else p.grad = values.to(p.dtype, p.device, copy: true);
                }
            }
        }

        LastAllReduceSeconds = reduceSeconds;
        TotalAllReduceSeconds += reduceSeconds;
        LastSynchronizeSeconds = World.WallTime() - started;
        Steps++;
    }

    /// <summary>
    /// Saves the adapters as <see cref="PeftModel{TModel}.Save"/> does, on rank 0 only; the other ranks
    /// wait until it is written. If rank 0 fails to write, every rank throws (rank 0 its own exception).
    /// </summary>
    /// <param name="directory">Where rank 0 writes (a folder on rank 0's machine).</param>
    /// <param name="layout">How shared tensors are stored.</param>
    /// <exception cref="IOException">On ranks other than 0: rank 0 failed to save.</exception>
    public void Save(string directory, AdapterLayout layout = AdapterLayout.Peft)
    {
        Exception? failure = null;
        if (World.IsRoot)
        {
            try
            {
                Peft.Save(directory, layout);
            }
            catch (Exception e)
            {
                failure = e;
            }
        }

        // Doubles as the barrier: nobody goes on before rank 0 has written (or failed).
        Span<int> status = [failure is null ? 0 : 1];
        World.Broadcast(status);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        if (status[0] != 0) throw new IOException($"Rank 0 failed to save the adapters to '{directory}'; see its error.");
    }

    private void WarnOfBatchRouting(ILogger? logger) => BatchRoutingCheck.Warn(Peft, logger ?? NullLogger.Instance);

    private IReadOnlyList<Parameter> Current()
    {
        var parameters = Peft.TrainableParameters();
        if (!layout.Matches(parameters))
        {
            throw new InvalidOperationException(
                $"The trainable parameters changed since this DataParallel was created ({layout.Count} tensors then, {parameters.Count} now, or other shapes): " +
                "the active adapter was switched or parameters were frozen or unfrozen. Create a new DataParallel after such a change, on every rank.");
        }

        return parameters;
    }

    private FlatLayout Describe(IReadOnlyList<Parameter> parameters)
    {
        if (parameters.Count == 0) throw new InvalidOperationException("The model has no trainable parameters; there is nothing to train in parallel.");
        return FlatLayout.For(parameters, Math.Max(1, bucketBytes / sizeof(float)));
    }

    private void CheckSameOnEveryRank()
    {
        Span<long> low = [layout.Signature, layout.Count, layout.Elements];
        Span<long> high = [layout.Signature, layout.Count, layout.Elements];
        World.AllReduce(low, ReduceOperation.Min);
        World.AllReduce(high, ReduceOperation.Max);
        if (!low.SequenceEqual(high))
        {
            // Every rank sees the same min and max, so every rank throws.
            throw new InvalidOperationException(
                $"The ranks hold different trainable tensors (rank {World.Rank}: {layout.Count} tensors, {layout.Elements} elements; " +
                $"across ranks {low[1]}–{high[1]} tensors, {low[2]}–{high[2]} elements). Every rank must build the same model and adapter config.");
        }
    }

    private Tensor Buffer(FlatBucket bucket)
    {
        if (!buffers.TryGetValue(bucket.DType, out var buffer))
        {
            var largest = layout.Buckets.Where(b => b.DType == bucket.DType).Max(b => b.Elements);
            buffer = zeros(largest, dtype: bucket.DType, device: CPU).DetachFromDisposeScope();
            buffers[bucket.DType] = buffer;
        }

        return buffer.narrow(0, 0, bucket.Elements);
    }

    private void AllReduce(Tensor flat)
    {
        if (flat.dtype == ScalarType.Float64) World.AllReduce(MemoryMarshal.Cast<byte, double>(flat.bytes));
        else World.AllReduce(MemoryMarshal.Cast<byte, float>(flat.bytes));
    }

    private void Broadcast(Tensor flat) => World.Broadcast(flat.bytes);
}
