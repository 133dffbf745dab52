namespace Lily.Matching;

/// <summary>
/// A regular expression from a config that cannot be used: invalid, read differently than by Python's <c>re</c>, or
/// too slow. An <see cref="ArgumentException"/> whose <see cref="ArgumentException.ParamName"/> is the config field,
/// so a load can tell it came from the file and report it as the file's error.
/// </summary>
internal sealed class PathPatternException : ArgumentException
{
    public PathPatternException(string message, string field, Exception? inner = null) : base(message, field, inner)
    {
    }
}
