using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// A dispose scope per block of a model one cannot edit, by forward hooks: the pre-hook opens a scope, the
/// hook moves the block's output to the enclosing scope and disposes the rest of what the block made.
/// Tensors autograd saved for backward stay alive in the graph; everything else the block created is
/// freed when it returns instead of when the training step's scope ends. Hooks fire only through
/// <c>call()</c>, so the blocks must be called, not <c>forward()</c>ed, by their parent.
/// </summary>
public static class BlockScopes
{
    /// <summary>Hooks every module of <paramref name="blocks"/>; dispose the result to remove the hooks.</summary>
    public static IDisposable Attach(IEnumerable<nn.Module<Tensor, Tensor>> blocks)
    {
        var removers = new List<Action>();
        foreach (var block in blocks)
        {
            var open = new Stack<DisposeScope>();
            var pre = block.register_forward_pre_hook((_, input) =>
            {
                open.Push(NewDisposeScope());
                return input;
            });
            var post = block.register_forward_hook((_, _, output) =>
            {
                var kept = output.MoveToOuterDisposeScope();
                open.Pop().Dispose();
                return kept;
            });
            removers.Add(pre.remove);
            removers.Add(post.remove);
        }
        return new Removal(() => removers.ForEach(r => r()));
    }

    private sealed class Removal(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }
}
