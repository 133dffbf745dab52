using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>
/// How a block applies one of its projections: given the projection's name (<c>q_proj</c>, …, <c>down_proj</c>),
/// the Linear and the input, returns the output. Unset, a block calls the Linear (so the library's hooks fire);
/// the benchmarks set one to write LoRA inline in the model's forward, the floor the library is measured against.
/// </summary>
public delegate Tensor LlamaProjection(string name, Linear projection, Tensor x);
