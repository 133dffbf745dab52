using Lily.Experiments.Text;

namespace Lily.Bert.Tests.Experiments;

public sealed class StudyLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("study-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static StudyRun Run(string method, double lr, int seed, double accuracy) =>
        new("minilm", "spam", "qv", method, "tune", lr, 1.0, 0, seed, 74_498, 8, accuracy, 12.5, double.NaN);

    [Fact]
    public void RunsSurviveARestart_AndTheirKeysAreFound()
    {
        var path = Path.Combine(_dir, "study-runs.csv");
        var log = new StudyLog(path);
        log.Add(Run("lora", 5e-4, 1, 0.88));
        log.Add(Run("lily", 2e-3, 1, 0.935));

        var again = new StudyLog(path);
        again.Runs.Should().HaveCount(2);
        again.Find(Run("lily", 2e-3, 1, 0).Key)!.Accuracy.Should().Be(0.935);
        again.Find(Run("lily", 2e-3, 2, 0).Key).Should().BeNull("another seed is another run");
        again.Find(Run("lily", 5e-4, 1, 0).Key).Should().BeNull("another learning rate is another run");
    }

    [Fact]
    public void ALineCutShortByAStop_IsDropped_SoThatRunIsDoneAgain()
    {
        var path = Path.Combine(_dir, "study-runs.csv");
        var log = new StudyLog(path);
        log.Add(Run("lora", 5e-4, 1, 0.88));
        File.AppendAllText(path, "minilm,spam,qv,lily,tune,0.002,1,0,1,741");
        new StudyLog(path).Runs.Should().ContainSingle().Which.Method.Should().Be("lora");
    }

    [Fact]
    public void AFileThatIsNotAStudyLog_IsRefused_NamingIt()
    {
        var path = Path.Combine(_dir, "results.csv");
        File.WriteAllText(path, "method,seed,accuracy\nlora,1,0.9\n");
        var act = () => new StudyLog(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*not a study log*");
        File.ReadAllText(path).Should().Be("method,seed,accuracy\nlora,1,0.9\n", "the file is left as it was");
    }

    [Fact]
    public void CsvLine_RoundTrips()
    {
        var run = Run("clora", 2e-3, 3, 0.9612) with { Bases = 4, Phase = "test", EffectiveRank = 13.25 };
        StudyRun.Parse(run.ToCsv()).Should().Be(run);
    }
}
