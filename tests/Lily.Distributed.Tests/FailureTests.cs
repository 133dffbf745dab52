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

    [Fact]
    public void A_data_parallel_program_started_without_a_launcher_refuses_to_run()
    {
        var run = WorkerRun.Alone("parallel", null, "lora", "float32", "2", "12", Path.Combine(folder, "out"));

        run.ExitCode.Should().NotBe(0);
        run.Output.Should().Contain("not started by an MPI launcher").And.Contain("mpiexec -n");
        File.Exists(Path.Combine(folder, "out.rank0")).Should().BeFalse("nothing trains");
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
