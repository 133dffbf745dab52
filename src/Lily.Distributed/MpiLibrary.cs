using System.Runtime.InteropServices;
using System.Text;

namespace Lily.Distributed;

/// <summary>
/// The dozen MPI C functions the data-parallel code needs, bound by function pointer from a library
/// loaded by name. Handles are passed as MPICH-ABI <c>int</c>s (<see cref="MpichAbi"/>), so only
/// MPICH-family libraries are accepted; Open MPI is recognised by its exported handle objects and refused.
/// </summary>
internal sealed unsafe class MpiLibrary
{
    /// <summary>The environment variable that names the MPI library to load (a file name or a path).</summary>
    public const string LibraryVariable = "LILY_MPI_LIBRARY";

    /// <summary>Names tried in order when <see cref="LibraryVariable"/> is not set: MPICH's soname first.</summary>
    public static readonly IReadOnlyList<string> CandidateNames =
        ["libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpi.so", "libmpich.dylib", "libmpi.dylib"];

    private static readonly object LoadLock = new();
    private static MpiLibrary? loaded;

    private readonly delegate* unmanaged<int*, nint, int, int*, int> initThread;
    private readonly delegate* unmanaged<int> finalize;
    private readonly delegate* unmanaged<int*, int> initialized;
    private readonly delegate* unmanaged<int*, int> finalized;
    private readonly delegate* unmanaged<int, int*, int> commRank;
    private readonly delegate* unmanaged<int, int*, int> commSize;
    private readonly delegate* unmanaged<nint, void*, int, int, int, int, int> allreduce;
    private readonly delegate* unmanaged<void*, int, int, int, int, int> bcast;
    private readonly delegate* unmanaged<int, int> barrier;
    private readonly delegate* unmanaged<int, int*, int> commDup;
    private readonly delegate* unmanaged<int, int*, int> ibarrier;
    private readonly delegate* unmanaged<int*, int*, nint, int> test;
    private readonly delegate* unmanaged<int, int, int> abort;
    private readonly delegate* unmanaged<double> wtime;
    private readonly delegate* unmanaged<byte*, int*, int> getLibraryVersion;
    private readonly delegate* unmanaged<int, byte*, int*, int> errorString;

    private MpiLibrary(string path, nint handle)
    {
        Path = path;
        initThread = (delegate* unmanaged<int*, nint, int, int*, int>)Export(handle, "MPI_Init_thread");
        finalize = (delegate* unmanaged<int>)Export(handle, "MPI_Finalize");
        initialized = (delegate* unmanaged<int*, int>)Export(handle, "MPI_Initialized");
        finalized = (delegate* unmanaged<int*, int>)Export(handle, "MPI_Finalized");
        commRank = (delegate* unmanaged<int, int*, int>)Export(handle, "MPI_Comm_rank");
        commSize = (delegate* unmanaged<int, int*, int>)Export(handle, "MPI_Comm_size");
        allreduce = (delegate* unmanaged<nint, void*, int, int, int, int, int>)Export(handle, "MPI_Allreduce");
        bcast = (delegate* unmanaged<void*, int, int, int, int, int>)Export(handle, "MPI_Bcast");
        barrier = (delegate* unmanaged<int, int>)Export(handle, "MPI_Barrier");
        commDup = (delegate* unmanaged<int, int*, int>)Export(handle, "MPI_Comm_dup");
        ibarrier = (delegate* unmanaged<int, int*, int>)Export(handle, "MPI_Ibarrier");
        test = (delegate* unmanaged<int*, int*, nint, int>)Export(handle, "MPI_Test");
        abort = (delegate* unmanaged<int, int, int>)Export(handle, "MPI_Abort");
        wtime = (delegate* unmanaged<double>)Export(handle, "MPI_Wtime");
        getLibraryVersion = (delegate* unmanaged<byte*, int*, int>)Export(handle, "MPI_Get_library_version");
        errorString = (delegate* unmanaged<int, byte*, int*, int>)Export(handle, "MPI_Error_string");
    }

    /// <summary>The name or path the library was loaded from.</summary>
    public string Path { get; }

    /// <summary>Loads the MPI library once per process: <see cref="LibraryVariable"/> if set, else the first of <see cref="CandidateNames"/> found.</summary>
    /// <exception cref="MpiException">No library loads, or the one found is Open MPI.</exception>
    public static MpiLibrary Load()
    {
        lock (LoadLock)
        {
            return loaded ??= LoadUncached();
        }
    }

    private static MpiLibrary LoadUncached()
    {
        var overridden = Environment.GetEnvironmentVariable(LibraryVariable);
        IReadOnlyList<string> names = string.IsNullOrWhiteSpace(overridden) ? CandidateNames : [overridden];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            // Open MPI's handles are addresses of these exported objects; MPICH exports none of them.
            if (NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _))
            {
                throw new MpiException(
                    $"'{name}' is Open MPI, whose handles are pointers rather than the MPICH ABI this binding uses. " +
                    $"Install an MPICH-family MPI (Debian: apt-get install mpich) and launch with its mpiexec (mpiexec.mpich), " +
                    $"or point {LibraryVariable} at its library (e.g. libmpich.so.12).");
            }

            if (!NativeLibrary.TryGetExport(handle, "MPI_Init_thread", out _))
            {
                throw new MpiException($"'{name}' loaded but exports no MPI_Init_thread; it is not an MPI library. Set {LibraryVariable} to MPICH's libmpich.so.12.");
            }

            return new MpiLibrary(name, handle);
        }

        throw new MpiException(string.IsNullOrWhiteSpace(overridden)
            ? $"No MPI library found (tried {string.Join(", ", CandidateNames)}). Install MPICH (Debian: apt-get install mpich) or set {LibraryVariable} to the library's path."
            : $"{LibraryVariable}='{overridden}' could not be loaded.");
    }

    public int InitThread(int required)
    {
        int provided;
        Check(initThread(null, 0, required, &provided), "MPI_Init_thread");
        return provided;
    }

    public void FinalizeMpi() => Check(finalize(), "MPI_Finalize");

    public bool IsInitialized()
    {
        int flag;
        Check(initialized(&flag), "MPI_Initialized");
        return flag != 0;
    }

    public bool IsFinalized()
    {
        int flag;
        Check(finalized(&flag), "MPI_Finalized");
        return flag != 0;
    }

    public int Rank(int comm)
    {
        int rank;
        Check(commRank(comm, &rank), "MPI_Comm_rank");
        return rank;
    }

    public int Size(int comm)
    {
        int size;
        Check(commSize(comm, &size), "MPI_Comm_size");
        return size;
    }

    /// <summary>In-place all-reduce of <paramref name="count"/> elements at <paramref name="buffer"/>.</summary>
    public void AllReduceInPlace(void* buffer, int count, int datatype, int op, int comm) =>
        Check(allreduce(MpichAbi.InPlace, buffer, count, datatype, op, comm), "MPI_Allreduce");

    public void Broadcast(void* buffer, int count, int datatype, int root, int comm) =>
        Check(bcast(buffer, count, datatype, root, comm), "MPI_Bcast");

    public void Barrier(int comm) => Check(barrier(comm), "MPI_Barrier");

    /// <summary>A new communicator over the same processes (<c>MPI_Comm_dup</c>, collective): its collectives never match another's.</summary>
    public int Duplicate(int comm)
    {
        int copy;
        Check(commDup(comm, &copy), "MPI_Comm_dup");
        return copy;
    }

    /// <summary>
    /// A barrier on <paramref name="comm"/> that gives up after <paramref name="limit"/> (<c>MPI_Ibarrier</c>, polled with
    /// <c>MPI_Test</c>); true when every rank got there. Given up, the request stays pending: the caller aborts the job.
    /// </summary>
    public bool BarrierWithin(int comm, TimeSpan limit)
    {
        int request;
        Check(ibarrier(comm, &request), "MPI_Ibarrier");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            int done;
            Check(test(&request, &done, MpichAbi.StatusIgnore), "MPI_Test");
            if (done != 0) return true;
            if (clock.Elapsed >= limit) return false;
            Thread.Sleep(5);
        }
    }

    public void Abort(int comm, int errorCode) => abort(comm, errorCode);

    public double Wtime() => wtime();

    public string LibraryVersion()
    {
        var text = new byte[MpichAbi.MaxLibraryVersionString];
        int length;
        fixed (byte* p = text)
        {
            Check(getLibraryVersion(p, &length), "MPI_Get_library_version");
        }

        return Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length)).TrimEnd('\0', '\n', ' ');
    }

    private void Check(int code, string function)
    {
        if (code == MpichAbi.Success) return;
        var text = new byte[MpichAbi.MaxErrorString];
        int length = 0;
        string message;
        fixed (byte* p = text)
        {
            message = errorString(code, p, &length) == MpichAbi.Success
                ? Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length))
                : "no error string";
        }

        throw new MpiException($"{function} failed with error {code}: {message}");
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out var address)
            ? address
            : throw new MpiException($"The MPI library exports no {name}; it is not an MPI-3 library.");
}
