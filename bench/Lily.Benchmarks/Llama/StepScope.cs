namespace Lily.Benchmarks.Llama;

/// <summary>Where a training step's temporaries are disposed.</summary>
public enum StepScope
{
    /// <summary>One dispose scope around the whole step (the README's quick start): every temporary lives until the step ends.</summary>
    Step,

    /// <summary>Besides the step's, a scope inside each block's forward (the block's code does it, as TorchSharp's own modules do).</summary>
    Block,

    /// <summary>Besides the step's, a scope per block opened and closed by forward hooks (<see cref="BlockScopes"/>): the model's code is unchanged.</summary>
    BlockHooks,
}
