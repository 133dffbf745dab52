using Spectre.Console;

namespace Lily.Tests.Support;

/// <summary>The sample's output piped to a file: no escape character, tables at full width.</summary>
public class PlainConsoleTests
{
    // A console that believes it is a colour terminal of 80 columns, as Spectre assumes for a pipe.
    private static (IAnsiConsole Console, StringWriter Text) Terminal()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.Yes, ColorSystem = ColorSystemSupport.TrueColor, Out = new AnsiConsoleOutput(text) });
        console.Profile.Width = 80;
        return (console, text);
    }

    private static void WriteWideTable(IAnsiConsole console)
    {
        var table = new Table().AddColumns(Enumerable.Range(0, 9).Select(i => $"column number {i}").ToArray());
        table.AddRow(Enumerable.Range(0, 9).Select(i => $"value {i:D6}").ToArray());
        console.MarkupLine("[red]coloured[/] line");
        console.Write(table);
    }

    [Fact]
    public void Redirected_output_has_no_escape_codes_and_whole_table_cells()
    {
        var (console, text) = Terminal();
        Lily.ConsoleOutput.PlainConsole.WhenRedirected(console, redirected: true);
        WriteWideTable(console);
        text.ToString().Should().NotContain("\u001b").And.Contain("column number 8").And.Contain("value 000008");
    }

    [Fact]
    public void A_terminal_keeps_its_colours()
    {
        var (console, text) = Terminal();
        Lily.ConsoleOutput.PlainConsole.WhenRedirected(console, redirected: false);
        WriteWideTable(console);
        text.ToString().Should().Contain("\u001b", "the check above would pass vacuously if this console never wrote escape codes");
    }
}
