using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Lily.Distributed;

/// <summary>
/// The MPI job this process belongs to (<c>MPI_COMM_WORLD</c>): its rank and size, and the collectives
/// the data-parallel code needs. Create one per process at the start of <c>Main</c> with
/// <c>using var world = MpiWorld.Initialize();</c>: that initialises MPI, checks the world against the
/// launcher, and makes an unhandled exception on any thread print itself and abort the whole job
/// (<c>MPI_Abort</c>) instead of leaving the other ranks waiting forever; disposing waits (up to
/// <see cref="EndGrace"/>) for every rank to end too, then finalises MPI. A refused launch that the program
/// does not catch ends the process with <see cref="RefusedLaunchExitCode"/> and the reason, without a stack trace.
/// </summary>
public sealed unsafe class MpiWorld : IDisposable
{
    private static readonly object Gate = new();
    private static bool created;

    private static bool refusalHandlerInstalled;

    private readonly MpiLibrary mpi;
    // A copy of the world for the end-of-job barrier: it must not match a collective the other ranks are in.
    private readonly int endComm;
    private bool disposed;

    private MpiWorld(MpiLibrary mpi, int rank, int size, LauncherEnvironment launcher, int endComm)
    {
        this.mpi = mpi;
        this.endComm = endComm;
        Rank = rank;
        Size = size;
        Launcher = launcher;
    }

    /// <summary>This process's rank, 0 to <see cref="Size"/> − 1.</summary>
    public int Rank { get; }

    /// <summary>The number of processes in the job.</summary>
    public int Size { get; }

    /// <summary>True on rank 0, the rank that writes files and prints reports.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>The exit code of a process whose launch <see cref="Initialize"/> refused, when the program does not catch the refusal.</summary>
    public const int RefusedLaunchExitCode = 2;

    /// <summary>
    /// How long <see cref="Dispose"/> waits for the other ranks to end too (5 minutes by default). A rank that ends
    /// while others are still in a collective (it returned from <c>Main</c> early) would leave them waiting
    /// forever: after this long the job is aborted with a message naming the rank. Make it longer when ranks
    /// legitimately end far apart (rank 0 writing a long report after training).
    /// </summary>
    public TimeSpan EndGrace { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>What the launcher's environment variables said.</summary>
    public LauncherEnvironment Launcher { get; }

    /// <summary>The name or path the MPI library was loaded from.</summary>
    public string LibraryPath => mpi.Path;

    /// <summary>The MPI library's own description (<c>MPI_Get_library_version</c>).</summary>
    public string LibraryVersion => mpi.LibraryVersion();

    /// <summary>
    /// Initialises MPI (<c>MPI_Init_thread</c>, serialized) and returns the world. Unless
    /// <paramref name="allowWithoutLauncher"/>, a process that no MPI launcher started is refused:
    /// started N times by hand, each copy would train alone as "rank 0 of 1". A world whose size disagrees
    /// with the launcher's variables (the wrong launcher) is always refused.
    /// </summary>
    /// <param name="allowWithoutLauncher">Accept a process started without a launcher as a world of one.</param>
    /// <exception cref="MpiException">No MPICH-family library, MPI already initialised in this process, or the launch is wrong.</exception>
    public static MpiWorld Initialize(bool allowWithoutLauncher = false)
    {
        lock (Gate)
        {
            if (!refusalHandlerInstalled) AppDomain.CurrentDomain.UnhandledException += ExitOnRefusedLaunch;
            refusalHandlerInstalled = true;
        }
        try
        {
            return InitializeCore(allowWithoutLauncher);
        }
        catch (MpiException e)
        {
            e.RefusedLaunch = true;
            throw;
        }
    }

    // A refusal nobody caught (the documented `using var world = MpiWorld.Initialize();`): the reason and a clean
    // exit code, not the runtime's crash with a stack trace (exit 134).
    private static void ExitOnRefusedLaunch(object? sender, UnhandledExceptionEventArgs e)
    {
        if (e.ExceptionObject is not MpiException { RefusedLaunch: true } refusal) return;
        Console.Out.Flush();
        Console.Error.WriteLine($"Refused to start: {refusal.Message}");
        Console.Error.Flush();
        Environment.Exit(RefusedLaunchExitCode);
    }

    private static MpiWorld InitializeCore(bool allowWithoutLauncher)
    {
        var launcher = LauncherEnvironment.Current();
        if (!launcher.FromLauncher && !allowWithoutLauncher)
        {
            throw new MpiException(
                "This process was not started by an MPI launcher (none of PMI_SIZE, OMPI_COMM_WORLD_SIZE, MV2_COMM_WORLD_SIZE is set), " +
                "so it would run alone; started several times by hand, every copy would train on its own as rank 0. " +
                "Start it with: mpiexec -n <processes> <program> (Debian: mpiexec.mpich).");
        }

        lock (Gate)
        {
            if (created) throw new MpiException("MPI was already initialised in this process; create one MpiWorld at the start of Main and keep it.");
            var mpi = MpiLibrary.Load();
            if (mpi.IsInitialized()) throw new MpiException("MPI was already initialised in this process by other code.");
            mpi.InitThread(MpichAbi.ThreadSerialized);
            created = true;
            int rank = mpi.Rank(MpichAbi.CommWorld), size = mpi.Size(MpichAbi.CommWorld);
            if (launcher.Mismatch(size, rank) is { } mismatch)
            {
                // Every copy is a world of its own here, so finalising alone does not wait for anybody.
                mpi.FinalizeMpi();
                throw new MpiException(mismatch);
            }

            var world = new MpiWorld(mpi, rank, size, launcher, mpi.Duplicate(MpichAbi.CommWorld));

            AppDomain.CurrentDomain.UnhandledException += world.AbortOnUnhandledException;
            return world;
        }
    }

    /// <summary>Waits until every rank has called it (<c>MPI_Barrier</c>).</summary>
    public void Barrier()
    {
        ThrowIfDisposed();
        mpi.Barrier(MpichAbi.CommWorld);
    }

    /// <summary>Combines <paramref name="values"/> over all ranks in place; every rank gets the result.</summary>
    public void AllReduce(Span<float> values, ReduceOperation operation = ReduceOperation.Sum) => AllReduce(values, MpichAbi.Float, operation);

    /// <summary>Combines <paramref name="values"/> over all ranks in place; every rank gets the result.</summary>
    public void AllReduce(Span<double> values, ReduceOperation operation = ReduceOperation.Sum) => AllReduce(values, MpichAbi.Double, operation);

    /// <summary>Combines <paramref name="values"/> over all ranks in place; every rank gets the result.</summary>
    public void AllReduce(Span<long> values, ReduceOperation operation = ReduceOperation.Sum) => AllReduce(values, MpichAbi.Int64, operation);

    /// <summary>Combines <paramref name="values"/> over all ranks in place; every rank gets the result.</summary>
    public void AllReduce(Span<int> values, ReduceOperation operation = ReduceOperation.Sum) => AllReduce(values, MpichAbi.Int, operation);

    /// <summary>Copies <paramref name="root"/>'s <paramref name="values"/> to every other rank's (<c>MPI_Bcast</c>, as bytes).</summary>
    public void Broadcast<T>(Span<T> values, int root = 0) where T : unmanaged
    {
        ThrowIfDisposed();
        CheckRoot(root);
        var bytes = MemoryMarshal.AsBytes(values);
        fixed (byte* p = bytes)
        {
            mpi.Broadcast(p, bytes.Length, MpichAbi.Byte, root, MpichAbi.CommWorld);
        }
    }

    /// <summary>Seconds since an arbitrary time in the past (<c>MPI_Wtime</c>).</summary>
    public double WallTime()
    {
        ThrowIfDisposed();
        return mpi.Wtime();
    }

    // How long Abort waits between printing its reason and MPI_Abort (see there).
    private static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Ends every process of the job with <paramref name="errorCode"/> (<c>MPI_Abort</c>), after printing
    /// <paramref name="reason"/> to standard error. Use it where an error on one rank is caught but the
    /// others would wait for this rank forever.
    /// </summary>
    [DoesNotReturn]
    public void Abort(int errorCode, string reason)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"[rank {Rank} of {Size}] aborting the MPI job: {reason}");
        Console.Error.Flush();
        // The launcher forwards each rank's output through its proxies, and MPI_Abort has them kill every
        // process at once: on a busy machine the reason just written could still sit in a pipe and be lost
        // (seen under load: a job that ended non-zero with no output). A moment lets the proxy forward it.
        Thread.Sleep(AbortGrace);
        mpi.Abort(MpichAbi.CommWorld, errorCode);
        // MPI_Abort should not return; if the library lets it, the process still must not go on.
        Environment.Exit(errorCode);
        throw new UnreachableException();
    }

    /// <summary>
    /// Waits up to <see cref="EndGrace"/> for every rank to get here too, then finalises MPI (<c>MPI_Finalize</c>).
    /// If the others do not come (this rank returned from <c>Main</c> while they wait in a collective for it), the job
    /// is aborted with a message naming this rank, instead of hanging until the launcher's timeout.
    /// </summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        AppDomain.CurrentDomain.UnhandledException -= AbortOnUnhandledException;
        if (mpi.IsFinalized()) return;
        if (!mpi.BarrierWithin(endComm, EndGrace))
        {
            Abort(1,
                $"rank {Rank} ended (its MpiWorld was disposed: Main returned, or the using block ended) while other ranks had not ended " +
                $"{EndGrace.TotalSeconds:F0} s later; they are likely waiting in a collective for rank {Rank} and would wait forever. Every " +
                "rank must run the same collectives to the end; a rank that cannot go on must call world.Abort(code, reason).");
        }

        mpi.FinalizeMpi();
    }

    private void AllReduce<T>(Span<T> values, int datatype, ReduceOperation operation) where T : unmanaged
    {
        ThrowIfDisposed();
        var op = operation switch
        {
            ReduceOperation.Sum => MpichAbi.OpSum,
            ReduceOperation.Min => MpichAbi.OpMin,
            ReduceOperation.Max => MpichAbi.OpMax,
            _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "Unknown operation."),
        };
        if (values.IsEmpty) return;
        fixed (T* p = values)
        {
            mpi.AllReduceInPlace(p, values.Length, datatype, op, MpichAbi.CommWorld);
        }
    }

    private void AbortOnUnhandledException(object? sender, UnhandledExceptionEventArgs e)
    {
        if (disposed || mpi.IsFinalized()) return;
        Abort(1, $"unhandled exception:{Environment.NewLine}{e.ExceptionObject}");
    }

    private void CheckRoot(int root)
    {
        if (root < 0 || root >= Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"The root must be a rank of the world (0 to {Size - 1}).");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);
}
