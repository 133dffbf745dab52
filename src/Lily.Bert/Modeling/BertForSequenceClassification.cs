using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// Hugging Face's <c>BertForSequenceClassification</c>: an encoder (<c>bert</c>), a pooling, dropout and a linear
/// <c>classifier</c> to <c>numLabels</c> logits. Parameter names are Hugging Face's (<c>bert.embeddings…</c>, <c>classifier.weight</c>).
/// </summary>
/// <remarks>Hugging Face classifies the pooler output (<see cref="Pooling.Pooler"/>); sentence-transformers checkpoints
/// were trained for mean pooling (<see cref="Pooling.Mean"/>), so the pooling is a constructor argument.</remarks>
public sealed class BertForSequenceClassification : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly BertModel bert;
    private readonly Dropout dropout;
    private readonly Linear classifier;
#pragma warning restore IDE1006

    /// <summary>Creates a freshly initialised classifier.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="numLabels">Number of logits.</param>
    /// <param name="pooling">How the sequence is reduced before the classifier.</param>
    /// <param name="classifierDropout">Dropout before the classifier; <c>hidden_dropout_prob</c> when null, as in <c>transformers</c>.</param>
    /// <param name="addPoolingLayer">Whether <c>bert</c> has a pooler; when null, only if <paramref name="pooling"/> is <see cref="Pooling.Pooler"/>.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertForSequenceClassification(BertConfig config, int numLabels, Pooling pooling = Pooling.Pooler, double? classifierDropout = null,
        bool? addPoolingLayer = null, Device? device = null, ScalarType? dtype = null) : base(nameof(BertForSequenceClassification))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(numLabels, 1);
        var withPooler = addPoolingLayer ?? pooling == Pooling.Pooler;
        if (pooling == Pooling.Pooler && !withPooler)
            throw new ArgumentException("Pooling.Pooler needs a pooler; do not pass addPoolingLayer: false with it.", nameof(addPoolingLayer));
        NumLabels = numLabels;
        Pooling = pooling;
        bert = new BertModel(config, withPooler, device, dtype);
        dropout = nn.Dropout(classifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, numLabels, device: device, dtype: dtype);
        RegisterComponents();
        using (no_grad())
        {
            nn.init.normal_(classifier.weight!, 0, config.InitializerRange);
            nn.init.zeros_(classifier.bias!);
        }
    }

    /// <summary>Number of logits.</summary>
    public int NumLabels { get; }

    /// <summary>How the sequence is reduced before the classifier.</summary>
    public Pooling Pooling { get; }

    /// <summary>The encoder (<c>bert</c>).</summary>
    public BertModel Bert => bert;

    /// <summary>The head (<c>classifier</c>), <c>[numLabels, hidden]</c>.</summary>
    public Linear Classifier => classifier;

    /// <summary>Whether <see cref="FromPretrained"/> found a classifier of the right shape in the file (otherwise it is freshly initialised).</summary>
    public bool ClassifierLoaded { get; private set; }

    /// <summary>Classifies a batch with all token types 0.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding.</param>
    /// <returns>Logits, <c>[B, numLabels]</c>.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask) => forward(inputIds, attentionMask, null);

    /// <summary>Classifies a batch.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding; <see langword="null"/> for all tokens.</param>
    /// <param name="tokenTypeIds"><c>[B, T]</c> int64 segment ids; <see langword="null"/> for all zeros.</param>
    /// <returns>Logits, <c>[B, numLabels]</c>.</returns>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        // The common case goes through call() so hooks on bert fire; token types need the overload.
        var hidden = tokenTypeIds is null && attentionMask is not null ? bert.call(inputIds, attentionMask) : bert.forward(inputIds, attentionMask, tokenTypeIds);
        var pooled = bert.Pool(hidden, attentionMask, Pooling);
        return classifier.call(dropout.call(pooled)).MoveToOuterDisposeScope();
    }

    /// <summary>Loads a checkpoint folder (<c>config.json</c>, <c>model.safetensors</c>): the encoder strictly, from a bare
    /// <c>BertModel</c> or a <c>BertFor*</c> (<c>bert.</c>) checkpoint; <c>classifier.*</c> too when the file has both tensors with
    /// this head's shapes, otherwise the head is freshly initialised and its file tensors (if any) are skipped.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="numLabels">Number of logits.</param>
    /// <param name="pooling">How the sequence is reduced before the classifier.</param>
    /// <param name="ignorePrefixes">File tensors under these prefixes (e.g. <c>cls.</c>) are skipped; none by default.</param>
    /// <param name="classifierDropout">Dropout before the classifier; <c>hidden_dropout_prob</c> when null.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null); stored tensors are converted to it.</param>
    /// <returns>The model; see <see cref="ClassifierLoaded"/>.</returns>
    /// <exception cref="InvalidDataException">The encoder weights do not match; the message names the file, every wrong tensor and both shapes.</exception>
    public static BertForSequenceClassification FromPretrained(string directory, int numLabels, Pooling pooling = Pooling.Pooler,
        IEnumerable<string>? ignorePrefixes = null, double? classifierDropout = null, Device? device = null, ScalarType? dtype = null)
    {
        return BertCheckpoint.Build(directory,
            (config, tensors) =>
            {
                // A pooler in the file is kept (and loaded) even when unused, so the strict rule need not drop it silently;
                // naming "pooler." in ignorePrefixes leaves it out on purpose (mean or CLS pooling never runs it).
                bool filePooler = BertCheckpoint.HasPooler(tensors) && !(ignorePrefixes ?? []).Any(p => "pooler.dense.weight".StartsWith(p, StringComparison.Ordinal));
                return new BertForSequenceClassification(config, numLabels, pooling, classifierDropout, pooling == Pooling.Pooler || filePooler, device, dtype);
            },
            (model, tensors, path) =>
            {
                int hidden = model.bert.Config.HiddenSize;
                var head = tensors.Keys.Where(k => BertCheckpoint.CanonicalName(k).StartsWith("classifier.", StringComparison.Ordinal)).ToList();
                var fits = head.Count == 2
                    && tensors.TryGetValue("classifier.weight", out var w) && w.shape.SequenceEqual([numLabels, hidden])
                    && tensors.TryGetValue("classifier.bias", out var b) && b.shape.SequenceEqual([(long)numLabels]);
                BertCheckpoint.Load(model, tensors, path,
                    fits ? ignorePrefixes : (ignorePrefixes ?? []).Append("classifier."),
                    fits ? null : ["classifier."]);
                model.ClassifierLoaded = fits;
            });
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> (<c>bert.*</c>, <c>classifier.*</c>) into <paramref name="directory"/>.</summary>
    /// <param name="directory">The folder; created if missing.</param>
    public void SavePretrained(string directory) => BertCheckpoint.Save(this, bert.Config, directory);
}
