namespace Lily.Serialization;

/// <summary>One file of a set that <see cref="AdapterFilePair.Write"/> replaces together.</summary>
/// <param name="FileName">The final name, a plain file name inside the target directory (no directory part).</param>
/// <param name="WriteContent">Writes the whole content to the stream it is given; must not dispose the stream.</param>
internal sealed record PendingFile(string FileName, Action<Stream> WriteContent);
