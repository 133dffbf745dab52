using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>Where <see cref="InlineLora"/> accumulates the update.</summary>
public enum InlineLoraForm
{
    /// <summary>
    /// Into a <c>[N, d_out]</c> view of the base layer's 3-D output, as the library's hook does
    /// (the output exists before the update can be added): autograd records an in-place write on a view.
    /// </summary>
    OutputView,

    /// <summary>Into the base layer's output computed on the input's rows <c>[N, d_in]</c>, then viewed back, as the library's replacing wrapper does.</summary>
    Rows,

    /// <summary>
    /// Into a copy of the base layer's 3-D output viewed as rows: what a hook can do instead of writing into
    /// the output's view (one output-sized copy in forward instead of autograd's copies of the gradient in backward).
    /// </summary>
    OutputCopy,

    /// <summary>
    /// Out of place: <c>addmm</c> (not <c>addmm_</c>) of a view of the base layer's 3-D output makes the sum a
    /// tensor of its own, with no in-place write on a view for autograd to record and no copy.
    /// </summary>
    OutOfPlace,

    /// <summary>
    /// The update alone, added into a zero buffer, with no base layer: what <c>--levers</c> times per layer.
    /// Not LoRA (the base output is missing); its time against the other forms' overhead over the frozen
    /// layer is what the surrounding graph adds.
    /// </summary>
    UpdateAlone,
}

/// <summary>
/// LoRA written inline in a block's forward, with no library: per projection A <c>[r, d_in]</c> and
/// B <c>[d_out, r]</c> as plain parameters, and the update added as <c>LoraLinear.AddDelta</c> does it —
/// <c>h = linear(x, A)</c>, then one <c>addmm_</c> of <c>h</c> and <c>Bᵀ</c> (a contiguous copy while
/// autograd records, a view otherwise) into the base output, scaled. The floor the library's LoRA is measured against: no site, no hook, no counting,
/// no dispose scope, no checks.
/// </summary>
public sealed class InlineLora : nn.Module
{
    private readonly Parameter[] a;
    private readonly Parameter[] b;
    private readonly long[] inFeatures;
    private readonly long[] outFeatures;
    private readonly int rank;
    private readonly float scaling;

    /// <summary>A fresh pair per projection of <paramref name="projections"/>, LoRA's init (A kaiming-uniform with a = √5, B zero).</summary>
    /// <param name="names">The projections' names (the parameters are <c>NAME_A</c>, <c>NAME_B</c>).</param>
    /// <param name="projections">The base layers, in the order <see cref="Apply"/> is given their index.</param>
    /// <param name="rank">r.</param>
    /// <param name="scaling">alpha / r.</param>
    /// <param name="form">Where the update goes.</param>
    public InlineLora(IReadOnlyList<string> names, IReadOnlyList<Linear> projections, int rank, double scaling, InlineLoraForm form) : base(nameof(InlineLora))
    {
        this.rank = rank;
        this.scaling = (float)scaling;
        Form = form;
        a = new Parameter[projections.Count];
        b = new Parameter[projections.Count];
        inFeatures = projections.Select(p => p.in_features).ToArray();
        outFeatures = projections.Select(p => p.out_features).ToArray();
        for (int i = 0; i < projections.Count; i++)
        {
            var device = projections[i].weight!.device;
            a[i] = new Parameter(empty(rank, inFeatures[i], device: device));
            b[i] = new Parameter(zeros(outFeatures[i], rank, device: device));
            using (no_grad()) nn.init.kaiming_uniform_(a[i], a: Math.Sqrt(5));
            register_parameter($"{names[i]}_A", a[i]);
            register_parameter($"{names[i]}_B", b[i]);
        }
    }

    /// <summary>Where the update is accumulated.</summary>
    public InlineLoraForm Form { get; }

    /// <summary>Projection <paramref name="index"/>'s A <c>[r, d_in]</c>.</summary>
    public Parameter A(int index) => a[index];

    /// <summary>Projection <paramref name="index"/>'s B <c>[d_out, r]</c>.</summary>
    public Parameter B(int index) => b[index];

    /// <summary><c>projection(x) + scaling · (x Aᵀ) Bᵀ</c> for projection <paramref name="index"/>, <paramref name="x"/> shaped <c>[batch, tokens, d_in]</c>.</summary>
    public Tensor Apply(int index, Linear projection, Tensor x, long batch, long tokens)
    {
        var h = nn.functional.linear(x, a[index]).view(-1, rank);
        // As LoraLinear.AddDelta: Bᵀ made contiguous while autograd records, a view otherwise.
        var bT = is_grad_enabled() ? b[index].t().contiguous() : b[index].t();
        if (Form == InlineLoraForm.OutputView)
        {
            var output = projection.forward(x);
            output.view(-1, outFeatures[index]).addmm_(h, bT, beta: 1, alpha: scaling);
            return output;
        }
        if (Form == InlineLoraForm.UpdateAlone)
            return zeros(batch * tokens, outFeatures[index], device: x.device).addmm_(h, bT, beta: 1, alpha: scaling).view(batch, tokens, outFeatures[index]);
        if (Form == InlineLoraForm.OutOfPlace)
            return projection.forward(x).view(-1, outFeatures[index]).addmm(h, bT, beta: 1, alpha: scaling).view(batch, tokens, outFeatures[index]);
        if (Form == InlineLoraForm.OutputCopy)
        {
            var copy = projection.forward(x).view(-1, outFeatures[index]).clone();
            return copy.addmm_(h, bT, beta: 1, alpha: scaling).view(batch, tokens, outFeatures[index]);
        }
        var rows = projection.forward(x.view(-1, inFeatures[index]));
        return rows.addmm_(h, bT, beta: 1, alpha: scaling).view(batch, tokens, outFeatures[index]);
    }
}
