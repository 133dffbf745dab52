namespace Lily.Distributed;

/// <summary>
/// The handle values of the MPICH ABI, as MPICH's <c>mpi.h</c> defines them (handles are C <c>int</c>s there).
/// MPICH, Intel MPI, MVAPICH and Cray MPICH share this ABI (the "MPICH ABI compatibility initiative");
/// Open MPI does not (its handles are pointers to exported objects), which is why the binding refuses it.
/// The tests compare every value here with the installed <c>mpi.h</c>.
/// </summary>
public static class MpichAbi
{
    /// <summary><c>MPI_SUCCESS</c>.</summary>
    public const int Success = 0;

    /// <summary><c>MPI_COMM_WORLD</c>.</summary>
    public const int CommWorld = 0x44000000;

    /// <summary><c>MPI_STATUS_IGNORE</c>: MPICH's <c>(MPI_Status *)1</c>.</summary>
    public const nint StatusIgnore = 1;

    /// <summary><c>MPI_COMM_SELF</c>.</summary>
    public const int CommSelf = 0x44000001;

    /// <summary><c>MPI_BYTE</c>.</summary>
    public const int Byte = 0x4c00010d;

    /// <summary><c>MPI_INT</c> (32-bit).</summary>
    public const int Int = 0x4c000405;

    /// <summary><c>MPI_INT64_T</c>.</summary>
    public const int Int64 = 0x4c00083a;

    /// <summary><c>MPI_FLOAT</c>.</summary>
    public const int Float = 0x4c00040a;

    /// <summary><c>MPI_DOUBLE</c>.</summary>
    public const int Double = 0x4c00080b;

    /// <summary><c>MPI_MAX</c>.</summary>
    public const int OpMax = 0x58000001;

    /// <summary><c>MPI_MIN</c>.</summary>
    public const int OpMin = 0x58000002;

    /// <summary><c>MPI_SUM</c>.</summary>
    public const int OpSum = 0x58000003;

    /// <summary><c>MPI_IN_PLACE</c>: <c>(void *) -1</c>.</summary>
    public const nint InPlace = -1;

    /// <summary><c>MPI_THREAD_SERIALIZED</c>: any thread may call MPI, one at a time.</summary>
    public const int ThreadSerialized = 2;

    /// <summary><c>MPI_MAX_LIBRARY_VERSION_STRING</c>.</summary>
    public const int MaxLibraryVersionString = 8192;

    /// <summary><c>MPI_MAX_ERROR_STRING</c>.</summary>
    public const int MaxErrorString = 512;
}
