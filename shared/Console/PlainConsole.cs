using Spectre.Console;

namespace Lily.ConsoleOutput;

/// <summary>Console output for logs and pipes.</summary>
internal static class PlainConsole
{
    /// <summary>A line longer than this is wrapped even in a log; Spectre's tables only grow as wide as their content.</summary>
    public const int RedirectedWidth = 1000;

    /// <summary>
    /// When the output is not a terminal (a file, a pipe, CI's log), writes no colour codes and does not cut
    /// tables at Spectre's fallback of 80 columns: the log then reads as the terminal did, and greps work on it.
    /// </summary>
    public static void WhenRedirected(IAnsiConsole console, bool redirected)
    {
        if (!redirected) return;
        console.Profile.Capabilities.Ansi = false;
        console.Profile.Width = RedirectedWidth;
    }
}
