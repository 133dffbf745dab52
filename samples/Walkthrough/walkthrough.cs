#:package Lily.TorchSharp@*-*
#:package TorchSharp-cpu@0.107.0
#:package ScottPlot@5.1.59
#:property PublishAot=false
// Lily for .NET, a walkthrough: build a model, inject Lily, look at what is trained, train a few
// steps, look inside the trained layers, save the adapter, and load it into a fresh copy of the model.
// Run: bash build/pack.sh, then dotnet run --no-cache samples/Walkthrough/walkthrough.cs (the newest local build,
// from the feed named in NuGet.config here; --no-cache: rebuild, so a newer feed is not skipped as up to date).
// The notebook walkthrough.ipynb holds the same cells; a test keeps the two identical. Where the
// notebook shows a table or a plot inline, this app prints the table and saves the plot as a PNG.

// cell: model
using System.IO;          // the notebook kernel has no implicit usings
using Lily;
using Lily.Analysis;
using Lily.Tuners;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

// Any TorchSharp model works, whether its Linear layers sit in fields typed Linear (an adapter attaches by a
// forward hook) or Module<Tensor, Tensor>, ModuleList, Sequential, ModuleDict (a wrapper takes their place): docs/attaching.md.
Sequential MakeModel()
{
    manual_seed(0);   // the same base weights every time, standing in for a pretrained checkpoint
    var blocks = Enumerable.Range(0, 4).Select(i => ($"block{i}", (nn.Module<Tensor, Tensor>)nn.Sequential(
        ("up_proj", nn.Linear(32, 64)), ("act", nn.GELU()), ("down_proj", nn.Linear(64, 32))))).ToList();
    blocks.Add(("head", nn.Linear(32, 4)));
    return nn.Sequential(blocks);
}
var model = MakeModel();

// cell: inject
var config = new LilyConfig
{
    TargetModules = ["up_proj", "down_proj"],
    R = 4,
    StrideA = 2,      // block0/block1 share one A, block2/block3 another
    NumB = 2,         // one pool of two B experts for all up_proj, another for all down_proj
    ModulesToSave = ["head"],
};
var peft = PeftModel.Create(model, config);
var summary = peft.GetParameterSummary();
ShowTable(summary.Modules);   // "shared" counts each layer's share of the A and B tensors it uses
Console.WriteLine(summary);

// cell: train
var x = randn(64, 32);
var y = (x[.., ..4].argmax(1));   // a toy task: which of the first four features is largest
var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-2);
var losses = new List<double>();
for (int step = 1; step <= 60; step++)
{
    using var scope = NewDisposeScope();
    optimizer.zero_grad();
    var loss = nn.functional.cross_entropy(model.call(x), y);
    loss.backward();
    optimizer.step();
    losses.Add(loss.item<float>());
    if (step % 20 == 0) Console.WriteLine($"step {step}: loss {loss.item<float>():F4}");
}
var lossPlot = new ScottPlot.Plot();
lossPlot.Add.Scatter(Enumerable.Range(1, losses.Count).Select(s => (double)s).ToArray(), losses.ToArray());
lossPlot.Title("training loss");
lossPlot.XLabel("step");
lossPlot.YLabel("cross-entropy");
ShowPlot(lossPlot, "loss");

// cell: inspect
// What did training write into each layer? ΔW = s · (Σ_e p̄_e B_e)ᵀ A, with p̄ the router's mixture on x.
var inspection = peft.Inspect(x);
ShowTable(inspection.Layers.Select(l => new
{
    layer = l.Path,
    rank = l.Spectrum.NumericalRank,
    effective_rank = Math.Round(l.Spectrum.EffectiveRank, 2),
    largest_singular_value = Math.Round(l.Spectrum.MaxSingularValue, 4),
    expert_mixture = string.Join(" / ", (l.Mixture ?? []).Select(p => p.ToString("F2"))),
}));
var spectrumPlot = new ScottPlot.Plot();
foreach (var layer in inspection.Layers)
{
    var sigma = layer.Spectrum.SingularValues;
    var line = spectrumPlot.Add.Scatter(Enumerable.Range(1, sigma.Length).Select(i => (double)i).ToArray(), sigma);
    line.LegendText = layer.Path;
}
spectrumPlot.Title("singular values of each layer's ΔW (rank ≤ r = 4)");
spectrumPlot.XLabel("index");
spectrumPlot.YLabel("singular value");
spectrumPlot.ShowLegend(ScottPlot.Alignment.UpperRight);
ShowPlot(spectrumPlot, "spectra");

// cell: save-load
var dir = Path.Combine(Path.GetTempPath(), "lily-walkthrough");
peft.Save(dir);                                   // adapter_config.json + adapter_model.safetensors, PEFT's layout
foreach (var f in Directory.GetFiles(dir)) Console.WriteLine($"{Path.GetFileName(f)}: {new FileInfo(f).Length:N0} bytes");

var fresh = MakeModel();                          // the base model again, without adapters
var loaded = PeftModel.Load(fresh, dir);
model.eval();
fresh.eval();
using (no_grad())
{
    var same = model.call(x).allclose(fresh.call(x), rtol: 0, atol: 1e-6);
    Console.WriteLine($"loaded adapter reproduces the trained model: {same}");
    if (!same) throw new InvalidOperationException("the loaded adapter does not reproduce the trained model");
}

// app only: the notebook's "display" cell shows these inline; a console prints the table and saves the plot.
void ShowTable<T>(IEnumerable<T> rows)
{
    var columns = typeof(T).GetProperties();
    var cells = rows.Select(r => columns.Select(c => Convert.ToString(c.GetValue(r), System.Globalization.CultureInfo.InvariantCulture) ?? "").ToArray()).ToList();
    var widths = columns.Select((c, i) => cells.Select(r => r[i].Length).Append(c.Name.Length).Max()).ToArray();
    Console.WriteLine(string.Join("  ", columns.Select((c, i) => c.Name.PadRight(widths[i]))));
    foreach (var row in cells) Console.WriteLine(string.Join("  ", row.Select((v, i) => v.PadRight(widths[i]))));
}

void ShowPlot(ScottPlot.Plot plot, string name)
{
    var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "lily-walkthrough-plots")).FullName;
    var file = Path.Combine(folder, name + ".png");
    plot.SavePng(file, 640, 400);
    Console.WriteLine($"plot saved: {file}");
}
