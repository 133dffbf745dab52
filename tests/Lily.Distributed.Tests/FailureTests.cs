namespace Lily.Distributed.Tests;

/// <summary>A job that goes wrong ends, with a message, instead of hanging.</summary>
public sealed class FailureTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("lily-mpi-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [MpiTheory]
    [InlineData(2, 1)]
    [InlineData(3, 0)]
    public void A_rank_that_throws_ends_the_whole_job_within_seconds(int ranks, int throwingRank)
    {
        // The other ranks are waiting in the step's all-reduce for the rank that threw; without the abort they would wait forever.
        var job = WorkerRun.Parallel(ranks, "lora", "float32", "1000", "12", Path.Combine(folder, "out"), $"{throwingRank}", "2");

        job.ExitCode.Should().NotBe(0);
        job.Output.Should().Contain($"deliberate failure on rank {throwingRank} at step 2").And.Contain("aborting the MPI job");
        // Starting .NET processes takes a few seconds here; MPIEXEC_TIMEOUT (120 s) would be the hang.
        job.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(60));
    }

    [MpiFact]
    public void A_rank_that_returns_from_Main_early_ends_the_job_with_a_message_naming_it()
    {
        // Rank 1 returns at step 2; rank 0 goes on into the step's all-reduce and would wait for it forever.
        var environment = new Dictionary<string, string> { ["LILY_WORKER_RETURN_EARLY_RANK"] = "1", ["LILY_WORKER_END_GRACE_SECONDS"] = "3" };
        var job = WorkerRun.Parallel(2, environment, "lora", "float32", "1000", "12", Path.Combine(folder, "out"));

        job.ExitCode.Should().NotBe(0);
        job.Output.Should().Contain("[rank 1 of 2] aborting the MPI job: rank 1 ended");
        // MPIEXEC_TIMEOUT (120 s) would be the hang.
        job.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(60));
    }

    [MpiFact]
    public void Ranks_whose_trainable_tensors_differ_are_refused_on_every_rank()
    {
        var environment = new Dictionary<string, string> { ["LILY_WORKER_LAST_RANK_RANK"] = "2" };
        var job = WorkerRun.Parallel(2, environment, "lora", "float32", "2", "12", Path.Combine(folder, "out"));

        job.ExitCode.Should().NotBe(0);
        job.Output.Should().Contain("The ranks hold different trainable tensors");
        File.Exists(Path.Combine(folder, "out.rank0")).Should().BeFalse("nothing trains");
    }

    [MpiFact]
    public void A_save_that_fails_on_rank_0_fails_on_every_rank()
    {
        // The adapter folder would sit under a regular file: rank 0 cannot create it. The other rank waits for
        // rank 0's word in Save; it must get an error rather than wait forever. The worker catches the error on
        // every rank and exits with 3, so each rank's message shows.
        var blocker = Path.Combine(folder, "not-a-folder");
        File.WriteAllText(blocker, "");
        var environment = new Dictionary<string, string> { ["LILY_WORKER_ADAPTER_DIR"] = Path.Combine(blocker, "adapter") };
        var job = WorkerRun.Parallel(2, environment, "lora", "float32", "1", "12", Path.Combine(folder, "out"));

        job.ExitCode.Should().Be(3, job.Output);
        job.Output.Should().Contain("save failed on rank 0: DirectoryNotFoundException")
            .And.Contain("save failed on rank 1: IOException: Rank 0 failed to save the adapters");
    }

    [Fact]
    public void A_data_parallel_program_started_without_a_launcher_refuses_to_run()
    {
        var run = WorkerRun.Alone("parallel", null, "lora", "float32", "2", "12", Path.Combine(folder, "out"));

        // A clean exit with the reason, not the runtime's crash (exit 134) with a stack trace.
        run.ExitCode.Should().Be(MpiWorld.RefusedLaunchExitCode, run.Output);
        run.Output.Should().Contain("Refused to start:").And.Contain("not started by an MPI launcher").And.Contain("mpiexec -n")
            .And.NotContain("Unhandled exception").And.NotContain("   at ");
        File.Exists(Path.Combine(folder, "out.rank0")).Should().BeFalse("nothing trains");
    }

    [Theory]
    [InlineData("/nonexistent/libmpich.so.12", "LILY_MPI_LIBRARY='/nonexistent/libmpich.so.12' could not be loaded")]
    [InlineData("libc.so.6", "'libc.so.6' loaded but exports no MPI_Init_thread")]
    public void A_library_override_that_is_not_an_MPI_library_is_an_error_naming_it(string library, string message)
    {
        // PMI_SIZE=1 passes the launcher check, so the run gets as far as loading the library.
        var environment = new Dictionary<string, string> { ["LILY_MPI_LIBRARY"] = library, ["PMI_SIZE"] = "1", ["PMI_RANK"] = "0" };
        var run = WorkerRun.Alone("parallel", environment, "lora", "float32", "2", "12", Path.Combine(folder, "out"));

        run.ExitCode.Should().NotBe(0);
        run.Output.Should().Contain(message);
    }

    [MpiFact]
    public void A_program_started_by_a_launcher_of_another_MPI_refuses_to_run()
    {
        // What Open MPI's mpirun does to an MPICH program: it sets its own variables, and MPICH sees a world of one.
        var environment = new Dictionary<string, string> { ["OMPI_COMM_WORLD_SIZE"] = "2", ["OMPI_COMM_WORLD_RANK"] = "0" };
        var run = WorkerRun.Alone("parallel", environment, "lora", "float32", "2", "12", Path.Combine(folder, "out"));

        run.ExitCode.Should().NotBe(0);
        run.Output.Should().Contain("OMPI_COMM_WORLD_SIZE=2").And.Contain("MPI sees a world of 1");
        File.Exists(Path.Combine(folder, "out.rank0")).Should().BeFalse("nothing trains");
    }
}
