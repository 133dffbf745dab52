namespace Lily.Experiments.Text;

/// <summary>
/// The study's runs on disk (<c>study-runs.csv</c>), appended one line per finished run, so a study that is
/// stopped loses at most the run under way and a restart with the same options skips what is done.
/// </summary>
public sealed class StudyLog
{
    private readonly string path;
    private readonly Dictionary<string, StudyRun> done = new(StringComparer.Ordinal);

    /// <summary>Opens (or starts) the log at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not a study log.</exception>
    public StudyLog(string path)
    {
        this.path = path;
        if (!File.Exists(path))
        {
            File.WriteAllText(path, StudyRun.Header + "\n");
            return;
        }
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != StudyRun.Header)
            throw new InvalidDataException($"{path} is not a study log (its first line is not '{StudyRun.Header}'); move it away or choose another --output.");
        // A line cut short by a stop mid-write is dropped: that run is done again.
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            try
            {
                var run = StudyRun.Parse(line);
                done[run.Key] = run;
            }
            catch (FormatException)
            {
            }
        }
    }

    /// <summary>Every run recorded so far.</summary>
    public IReadOnlyCollection<StudyRun> Runs => done.Values;

    /// <summary>The recorded run with this key, if any.</summary>
    public StudyRun? Find(string key) => done.GetValueOrDefault(key);

    /// <summary>Records a finished run (flushed to disk before returning).</summary>
    public void Add(StudyRun run)
    {
        done[run.Key] = run;
        File.AppendAllText(path, run.ToCsv() + "\n");
    }
}
