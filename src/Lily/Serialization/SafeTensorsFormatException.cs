namespace Lily.Serialization;

/// <summary>
/// A safetensors file (or buffer) is malformed: its header length, JSON header or tensor layout breaks the
/// format. The message names the source, the offending tensor when there is one, and the problem.
/// </summary>
/// <remarks>
/// Derives from <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed) so code that already catches
/// I/O failures around loading a file also catches a corrupt one. I/O failures such as a missing file are not
/// wrapped: they keep their own exception types, and catching this type first tells the two apart.
/// </remarks>
public sealed class SafeTensorsFormatException : IOException
{
    /// <summary>Creates the exception with a generic message.</summary>
    public SafeTensorsFormatException()
        : base("The safetensors data is malformed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public SafeTensorsFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that revealed the problem.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying exception, or <see langword="null"/>.</param>
    public SafeTensorsFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The file path or other name of the malformed source, when known.</summary>
    public string? SourceName { get; private init; }

    /// <summary>The header key of the offending tensor, or <see langword="null"/> when the problem is not tied to one tensor.</summary>
    public string? TensorName { get; private init; }

    /// <summary>Builds the message "<c>source: tensor 'name' problem</c>" (or "<c>source: problem</c>").</summary>
    internal static SafeTensorsFormatException Create(string sourceName, string? tensorName, string problem, Exception? innerException = null)
    {
        var message = tensorName is null
            ? $"{sourceName}: {problem}"
            : $"{sourceName}: tensor '{tensorName}' {problem}";
        return new SafeTensorsFormatException(message, innerException) { SourceName = sourceName, TensorName = tensorName };
    }
}
