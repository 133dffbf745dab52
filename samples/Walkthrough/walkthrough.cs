#:package Lily.TorchSharp@0.1.0
#:package TorchSharp-cpu@0.107.0
// Lily for .NET, a walkthrough: build a model, inject Lily, look at what is trained, train a few
// steps, save the adapter, and load it into a fresh copy of the model.
// Run: dotnet run samples/Walkthrough/walkthrough.cs   (after: dotnet pack src/Lily -c Release -o artifacts/packages)
// The notebook walkthrough.ipynb holds the same cells; a test keeps the two identical.

// cell: model
using Lily;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

// Any TorchSharp model works, as long as the Linear layers to adapt sit in fields typed
// Module<Tensor, Tensor> (or in ModuleList / Sequential / ModuleDict), so an adapter can take their place.
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
Console.WriteLine(peft.GetParameterSummary().ToTable());

// cell: train
var x = randn(64, 32);
var y = (x[.., ..4].argmax(1));   // a toy task: which of the first four features is largest
var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-2);
for (int step = 1; step <= 60; step++)
{
    using var scope = NewDisposeScope();
    optimizer.zero_grad();
    var loss = nn.functional.cross_entropy(model.call(x), y);
    loss.backward();
    optimizer.step();
    if (step % 20 == 0) Console.WriteLine($"step {step}: loss {loss.item<float>():F4}");
}

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
