using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Lily.Benchmarks;

/// <summary>
/// The clock of the interleaved runners: wall time, or with <c>--cpu-time</c> the calling thread's CPU
/// time (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>). With one torch thread on the CPU every operation, backward
/// included, runs on the calling thread, so its CPU time is the work done, without the time the thread
/// waited for a core while other processes ran: on a loaded shared machine it moves far less than wall
/// time (caches and memory bandwidth are still shared, so load still shows).
/// </summary>
public static class BenchClock
{
    private const int ThreadCpuTimeClock = 3;    // CLOCK_THREAD_CPUTIME_ID
    private static readonly Stopwatch Wall = Stopwatch.StartNew();

    /// <summary>Milliseconds on the chosen clock, from an arbitrary origin.</summary>
    public static double Now()
    {
        if (!BenchOptions.Current.CpuTime) return Wall.Elapsed.TotalMilliseconds;
        if (ClockGetTime(ThreadCpuTimeClock, out var time) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        return time.Seconds * 1e3 + time.Nanoseconds / 1e6;
    }

    /// <summary>The clock's name for reports.</summary>
    public static string Name => BenchOptions.Current.CpuTime ? "thread CPU time" : "wall time";

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // DllImport rather than LibraryImport: the latter needs unsafe code enabled for the whole project.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
#pragma warning restore SYSLIB1054
}
