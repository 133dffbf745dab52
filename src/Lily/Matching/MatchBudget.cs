using System.Diagnostics;

namespace Lily.Matching;

/// <summary>
/// The time every regular-expression match of one config may take together. Each match also has its own timeout
/// (<see cref="PathPattern.MatchTimeout"/>), but a hostile pattern that stays just under it on every module path
/// would otherwise cost (number of modules) × that timeout.
/// </summary>
internal sealed class MatchBudget
{
    /// <summary>The total for one config: far above what honest patterns need on the largest models.</summary>
    public static readonly TimeSpan Total = TimeSpan.FromSeconds(1);

    private readonly Stopwatch spent = new();

    /// <summary>Runs one match, charging its time; throws once the total is spent.</summary>
    /// <exception cref="PathPatternException">This match or all of them together took too long.</exception>
    public T Run<T>(Func<T> match, string field, string path)
    {
        spent.Start();
        try
        {
            return match();
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException e)
        {
            throw new PathPatternException($"the regular expression in {field} took too long on '{path}' (catastrophic backtracking?)", field, e);
        }
        finally
        {
            spent.Stop();
            if (spent.Elapsed > Total)
            {
                throw new PathPatternException(
                    $"the regular expressions of this config took more than {Total.TotalSeconds:F0} s in all (the last one, in {field}, on '{path}'); " +
                    "a pattern this slow is refused (catastrophic backtracking?)", field);
            }
        }
    }
}
