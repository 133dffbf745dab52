namespace Lily.FashionMnist;

/// <summary>Which of the two Fashion-MNIST files to load.</summary>
public enum FashionMnistSplit
{
    /// <summary>The 60,000 training images (<c>train-*-ubyte</c>).</summary>
    Train,

    /// <summary>The 10,000 held-out test images (<c>t10k-*-ubyte</c>).</summary>
    Test,
}
