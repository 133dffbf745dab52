using Microsoft.Extensions.Logging;

namespace Lily.Distributed;

/// <summary>Creates <see cref="DataParallel{TModel}"/> without spelling the model's type.</summary>
public static class DataParallel
{
    /// <summary>The default bucket size: 64 MiB of gradients per all-reduce.</summary>
    public const long DefaultBucketBytes = 64L << 20;

    /// <summary>
    /// Makes <paramref name="peft"/> data-parallel over <paramref name="world"/>: checks that every rank
    /// holds the same trainable tensors and copies rank 0's values to the others. Call it on every rank,
    /// after creating or loading the adapter and moving the model, before building the optimizer's first step.
    /// </summary>
    /// <param name="peft">The model with its active adapter.</param>
    /// <param name="world">The MPI job.</param>
    /// <param name="bucketBytes">The most gradient bytes sent in one all-reduce (a tensor larger than that goes alone).</param>
    /// <param name="logger">Receives a warning (on rank 0) when the adapter computes something that depends on the whole batch.</param>
    public static DataParallel<TModel> Create<TModel>(PeftModel<TModel> peft, MpiWorld world, long bucketBytes = DefaultBucketBytes, ILogger? logger = null)
        where TModel : torch.nn.Module => new(peft, world, bucketBytes, logger);
}
