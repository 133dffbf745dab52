using System.Globalization;

namespace Lily.Experiments.Text;

/// <summary>
/// One run of the 1k study, as one line of <c>study-runs.csv</c>: what trained (backbone, task, targets,
/// method and its setting), in which phase (<c>tune</c>: 800 training / 200 validation examples of the 1,000;
/// <c>test</c>: all 1,000 → the test split), and what it scored.
/// </summary>
public sealed record StudyRun(string Backbone, string Task, string Targets, string Method, string Phase, double LearningRate,
    double Scaling, int Bases, int Seed, long Trainable, int Rank, double Accuracy, double Seconds, double EffectiveRank)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The CSV header.</summary>
    public const string Header = "backbone,task,targets,method,phase,learning_rate,scaling,bases,seed,trainable,rank,accuracy,seconds,effective_rank";

    /// <summary>Identifies the run's setting (everything but its outcome): a resumed study skips keys it already has.</summary>
    public string Key => string.Create(Inv, $"{Backbone}|{Task}|{Targets}|{Method}|{Phase}|{LearningRate:G6}|{Scaling:G6}|{Bases}|{Seed}");

    /// <summary>The run as one CSV line.</summary>
    public string ToCsv() => string.Create(Inv,
        $"{Backbone},{Task},{Targets},{Method},{Phase},{LearningRate:G6},{Scaling:G6},{Bases},{Seed},{Trainable},{Rank},{Accuracy:F4},{Seconds:F1},{EffectiveRank:F3}");

    /// <summary>Parses a line written by <see cref="ToCsv"/>.</summary>
    /// <exception cref="FormatException">The line does not have the study's columns.</exception>
    public static StudyRun Parse(string line)
    {
        var f = line.Split(',');
        if (f.Length != 14) throw new FormatException($"A study line has 14 fields, this one {f.Length}: '{line}'.");
        return new StudyRun(f[0], f[1], f[2], f[3], f[4], double.Parse(f[5], Inv), double.Parse(f[6], Inv), int.Parse(f[7], Inv),
            int.Parse(f[8], Inv), long.Parse(f[9], Inv), int.Parse(f[10], Inv), double.Parse(f[11], Inv), double.Parse(f[12], Inv), double.Parse(f[13], Inv));
    }
}
