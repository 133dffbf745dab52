using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.FashionMnist;

/// <summary>
/// A minimal classification training and evaluation loop, agnostic of the model and of which
/// parameters train: the optimizer the caller builds decides that (see <see cref="CreateAdamW"/>).
/// </summary>
/// <remarks>
/// Every step runs in its own dispose scope, so the activations, the autograd graph and the
/// batch's temporaries are freed at the end of the step and native memory stays flat.
/// </remarks>
public static class Trainer
{
    /// <summary>
    /// An AdamW optimizer over the parameters of <paramref name="model"/> that require gradients,
    /// i.e. the trainable ones after freezing or adapter injection.
    /// </summary>
    /// <param name="model">The model, already on its final device (moving a module creates new parameters).</param>
    /// <param name="learningRate">The learning rate.</param>
    /// <param name="weightDecay">Decoupled weight decay.</param>
    /// <returns>The optimizer.</returns>
    /// <exception cref="InvalidOperationException">No parameter of the model requires gradients.</exception>
    public static optim.Optimizer CreateAdamW(nn.Module model, double learningRate, double weightDecay = 0.01)
    {
        ArgumentNullException.ThrowIfNull(model);
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        if (trainable.Count == 0) throw new InvalidOperationException("The model has no trainable parameters (none requires gradients).");
        return optim.AdamW(trainable, lr: learningRate, weight_decay: weightDecay);
    }

    /// <summary>
    /// Trains <paramref name="model"/> for one pass over <paramref name="data"/> in shuffled
    /// mini-batches with cross-entropy loss.
    /// </summary>
    /// <param name="model">A classifier mapping images to logits <c>[B, classes]</c>.</param>
    /// <param name="data">The training data.</param>
    /// <param name="optimizer">Steps the trainable parameters; built after the model was moved to its device.</param>
    /// <param name="batchSize">Samples per step; a smaller last batch is kept.</param>
    /// <param name="seed">Seeds the sample order; pass e.g. <c>seed + epoch</c> for a new order each epoch.</param>
    /// <param name="onStep">Called after each step with the 0-based step index and that step's mean loss.</param>
    /// <param name="extraLoss">Added to each step's loss before backward, e.g. <c>peft.AuxiliaryLoss</c> (a method's regularizer); not part of the reported loss.</param>
    /// <returns>The epoch's loss, training accuracy, steps and time.</returns>
    public static EpochStats TrainEpoch(
        nn.Module<Tensor, Tensor> model,
        FashionMnistDataset data,
        optim.Optimizer optimizer,
        int batchSize,
        int seed,
        Action<int, double>? onStep = null,
        Func<Tensor>? extraLoss = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(optimizer);
        var device = DeviceOf(model);
        var clock = Stopwatch.StartNew();
        model.train();

        double lossSum = 0;
        long correct = 0, samples = 0;
        int step = 0;
        foreach (var (batchX, batchY) in data.Batches(batchSize, shuffle: true, seed: seed))
        {
            using var scope = NewDisposeScope();
            var x = batchX.to(device);
            var y = batchY.to(device);

            optimizer.zero_grad();
            var logits = model.call(x);
            var loss = nn.functional.cross_entropy(logits, y);
            (extraLoss is null ? loss : loss + extraLoss()).backward();
            optimizer.step();

            // Reading the loss syncs with the device once per step; cheap next to the step itself.
            double value = loss.item<float>();
            long n = y.shape[0];
            lossSum += value * n;
            correct += logits.argmax(1).eq(y).sum().item<long>();
            samples += n;
            onStep?.Invoke(step, value);
            step++;
        }
        return new EpochStats(samples > 0 ? lossSum / samples : double.NaN, samples > 0 ? (double)correct / samples : 0, step, samples, clock.Elapsed);
    }

    /// <summary>
    /// The fraction of <paramref name="data"/> that <paramref name="model"/> classifies correctly,
    /// computed in eval mode without gradients. The model's training/eval mode is restored afterwards.
    /// </summary>
    /// <param name="model">A classifier mapping images to logits <c>[B, classes]</c>.</param>
    /// <param name="data">The data to score.</param>
    /// <param name="batchSize">Samples per forward pass; larger is faster but needs more memory.</param>
    /// <returns>Accuracy in [0, 1]; 0 for empty data.</returns>
    public static double Evaluate(nn.Module<Tensor, Tensor> model, FashionMnistDataset data, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var device = DeviceOf(model);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            long correct = 0, samples = 0;
            foreach (var (batchX, batchY) in data.Batches(batchSize))
            {
                using var scope = NewDisposeScope();
                var y = batchY.to(device);
                var logits = model.call(batchX.to(device));
                correct += logits.argmax(1).eq(y).sum().item<long>();
                samples += y.shape[0];
            }
            return samples > 0 ? (double)correct / samples : 0;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    // The batches live on the CPU; they go wherever the model's parameters are.
    private static Device DeviceOf(nn.Module model) =>
        model.parameters().FirstOrDefault()?.device ?? CPU;
}
