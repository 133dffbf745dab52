namespace Lily.Distributed;

/// <summary>How <see cref="MpiWorld"/>'s all-reduce combines the ranks' values.</summary>
public enum ReduceOperation
{
    /// <summary><c>MPI_SUM</c>.</summary>
    Sum,

    /// <summary><c>MPI_MIN</c>.</summary>
    Min,

    /// <summary><c>MPI_MAX</c>.</summary>
    Max,
}
