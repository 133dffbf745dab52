using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Lily.Distributed.Mpi;

namespace Lily.Distributed;

/// <summary>
/// The MPI job this process belongs to (<c>MPI_COMM_WORLD</c>): its rank and size, and the collectives
/// the data-parallel code needs. Create one per process at the start of <c>Main</c> with
/// <c>using var world = MpiWorld.Initialize();</c>: that initialises MPI, checks the world against the
/// launcher, and makes an unhandled exception on any thread print itself and abort the whole job
/// (<c>MPI_Abort</c>) instead of leaving the other ranks waiting forever; disposing finalises MPI.
/// </summary>
public sealed unsafe class MpiWorld : IDisposable
{
    private static readonly object Gate = new();
    private static bool created;

    private readonly MpiLibrary mpi;
    private bool disposed;

    private MpiWorld(MpiLibrary mpi, int rank, int size, LauncherEnvironment launcher)
    {
        this.mpi = mpi;
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
            var world = new MpiWorld(mpi, mpi.Rank(MpichAbi.CommWorld), mpi.Size(MpichAbi.CommWorld), launcher);
            if (launcher.Mismatch(world.Size, world.Rank) is { } mismatch)
            {
                // Every copy is a world of its own here, so finalising alone does not wait for anybody.
                mpi.FinalizeMpi();
                throw new MpiException(mismatch);
            }

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

    /// <summary>Finalises MPI (<c>MPI_Finalize</c>). Every rank must get here; a rank that fails aborts the job instead.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        AppDomain.CurrentDomain.UnhandledException -= AbortOnUnhandledException;
        if (!mpi.IsFinalized()) mpi.FinalizeMpi();
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
