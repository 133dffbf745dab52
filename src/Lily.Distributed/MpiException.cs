namespace Lily.Distributed;

/// <summary>An MPI library could not be loaded or used, an MPI call failed, or the job was launched wrongly.</summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public MpiException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public MpiException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Thrown by <see cref="MpiWorld.Initialize"/>: the process was not started as it must be, so it never joined a job.</summary>
    internal bool RefusedLaunch { get; set; }

    /// <summary>Creates the exception with no message.</summary>
    public MpiException()
    {
    }
}
