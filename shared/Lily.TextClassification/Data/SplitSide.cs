namespace Lily.TextClassification.Data;

/// <summary>Which side of a document split a group falls on.</summary>
public enum SplitSide
{
    /// <summary>Training.</summary>
    Train,

    /// <summary>Validation (tuning).</summary>
    Validation,

    /// <summary>Held-out test.</summary>
    Test,
}
