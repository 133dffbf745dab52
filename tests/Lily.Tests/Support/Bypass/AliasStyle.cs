namespace Lily.Tests.Support.Bypass;

/// <summary>Where an <see cref="AliasBlock"/> keeps a second reference to its layer, besides its field.</summary>
public enum AliasStyle
{
    /// <summary>A <c>List&lt;Module&lt;Tensor, Tensor&gt;&gt;</c> field filled in the constructor.</summary>
    List,

    /// <summary>A <c>Func&lt;Tensor, Tensor&gt;</c> field holding <c>fc.call</c>.</summary>
    Delegate,

    /// <summary>A lambda over a local copy of the layer, captured in the constructor.</summary>
    Closure,

    /// <summary>A record field holding the layer.</summary>
    Record,

    /// <summary>A value-tuple field holding the layer.</summary>
    Tuple,

    /// <summary>A static table outside the model: no search of the model's fields can find it.</summary>
    Hidden,
}
