namespace Lily.Tuners;

/// <summary>Whether a field declared in <see cref="ConfigFields{TConfig}"/> sizes the adapter (see <see cref="PeftConfig.RankKnob"/>).</summary>
public enum ConfigKnob
{
    /// <summary>It does not.</summary>
    None,

    /// <summary>The method's rank-like setting: every adapter tensor grows with it (<see cref="PeftConfig.RankKnob"/>).</summary>
    Rank,

    /// <summary>Another integer setting that sizes the adapter (<see cref="PeftConfig.ShapeKnobs"/>).</summary>
    Shape,
}
