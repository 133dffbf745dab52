using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// A zero scalar whose backward counts: added to an adapted layer's output in a training pass, it tells
/// whether a backward pass reached that output, i.e. whether the loss trains the adapter there.
/// TorchSharp 0.107 has no tensor gradient hooks, so the count is a custom autograd function: its forward
/// returns zero, its backward increments the site's counter and passes the gradient on to a throwaway leaf.
/// </summary>
internal sealed class GradientTap : autograd.SingleTensorFunction<GradientTap>
{
    private const string CounterKey = "counter";

    /// <inheritdoc />
    public override string Name => nameof(GradientTap);

    /// <summary>Adds a zero to <paramref name="rows"/> in place whose backward increments <paramref name="counter"/>.</summary>
    public static void AddTo(Tensor rows, StrongBox<long> counter)
    {
        // A fresh leaf per pass: the graph keeps it alive as long as it needs it, and nothing else holds it.
        var leaf = zeros([], dtype: rows.dtype, device: rows.device, requires_grad: true);
        rows.add_(apply(leaf, counter));
    }

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        ctx.save_data(CounterKey, vars[1]);
        return zeros_like((Tensor)vars[0]);
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        Interlocked.Increment(ref ((StrongBox<long>)ctx.get_data(CounterKey)).Value);
        return [grad_output, null!];
    }
}
