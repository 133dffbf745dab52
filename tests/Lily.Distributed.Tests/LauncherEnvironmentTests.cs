namespace Lily.Distributed.Tests;

public sealed class LauncherEnvironmentTests
{
    private static LauncherEnvironment From(params (string Name, string Value)[] variables) =>
        LauncherEnvironment.From(name => variables.FirstOrDefault(v => v.Name == name).Value);

    [Fact]
    public void No_launcher_variables_means_no_launcher()
    {
        var launcher = From();
        launcher.FromLauncher.Should().BeFalse();
        launcher.Mismatch(1, 0).Should().BeNull();
    }

    [Fact]
    public void Mpich_hydra_variables_are_read_and_a_matching_world_passes()
    {
        var launcher = From(("PMI_SIZE", "3"), ("PMI_RANK", "2"));
        launcher.Should().Be(new LauncherEnvironment("PMI_SIZE", 3, 2));
        launcher.Mismatch(3, 2).Should().BeNull();
    }

    [Fact]
    public void A_world_of_one_under_a_launcher_of_two_is_the_wrong_launcher()
    {
        var launcher = From(("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_RANK", "1"));
        launcher.Mismatch(1, 0).Should().Contain("OMPI_COMM_WORLD_SIZE=2").And.Contain("world of 1");
    }

    [Fact]
    public void A_rank_other_than_the_launchers_is_refused()
    {
        From(("PMI_SIZE", "2"), ("PMI_RANK", "1")).Mismatch(2, 0).Should().Contain("rank 1 but MPI says 0");
    }

    [Fact]
    public void A_variable_that_is_not_a_number_is_an_error_naming_it()
    {
        var act = () => From(("MV2_COMM_WORLD_SIZE", "two"));
        act.Should().Throw<MpiException>().WithMessage("*MV2_COMM_WORLD_SIZE='two'*");
    }
}
