// The README's quick-start example. Keep the region below identical to the README's code block:
// tests/Lily.Tests/Docs/ReadmeSnippetTests.cs fails when they drift apart.
using Lily.Samples.QuickStart;

// begin-snippet: quickstart
using Lily;
using Lily.Tuners;
using TorchSharp;
using static TorchSharp.torch;

var model = new TinyTransformer(dim: 64, depth: 4, classes: 10);   // any TorchSharp model

var config = new LilyConfig
{
    TargetModules = ["q_proj", "v_proj", "fc1"],  // a name matches itself or any path ending in ".name"
    R = 8,                                        // rank of A and of each B expert
    StrideA = 2,                                  // 2 consecutive layers share one A
    NumB = 2,                                     // one pool of 2 B experts per target type
    ModulesToSave = ["head"],                     // train the new classifier head in full
};
var peft = PeftModel.Create(model, config);        // freezes the base, injects adapters in place
Console.WriteLine(peft.GetParameterSummary());     // trainable params: … || all params: … || trainable%: …

var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-3);
for (int step = 0; step < 20; step++)
{
    using var scope = NewDisposeScope();           // frees every temporary of the step
    var x = randn(16, 12, 64);                     // [batch, tokens, dim]
    var y = randint(0, 10, [16]);
    optimizer.zero_grad();
    var loss = nn.functional.cross_entropy(model.call(x), y);
    loss.backward();
    optimizer.step();
    if (step % 5 == 0) Console.WriteLine($"step {step}: loss {loss.item<float>():F4}");
}
peft.VerifyAdaptersApplied();                      // every adapter took part in training (Save checks it too)
// end-snippet
