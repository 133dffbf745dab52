using System.Globalization;
using System.Text.RegularExpressions;

namespace Lily.Distributed.Tests;

/// <summary>The binding's handle values against the installed MPICH's mpi.h, so an ABI change fails here and not in a user's job.</summary>
public sealed partial class MpichAbiTests
{
    public static TheoryData<string, long> Constants => new()
    {
        { "MPI_SUCCESS", MpichAbi.Success },
        { "MPI_COMM_WORLD", MpichAbi.CommWorld },
        { "MPI_COMM_SELF", MpichAbi.CommSelf },
        { "MPI_BYTE", MpichAbi.Byte },
        { "MPI_INT", MpichAbi.Int },
        { "MPI_INT64_T", MpichAbi.Int64 },
        { "MPI_FLOAT", MpichAbi.Float },
        { "MPI_DOUBLE", MpichAbi.Double },
        { "MPI_MAX", MpichAbi.OpMax },
        { "MPI_MIN", MpichAbi.OpMin },
        { "MPI_SUM", MpichAbi.OpSum },
        { "MPI_IN_PLACE", MpichAbi.InPlace },
        { "MPI_THREAD_SERIALIZED", MpichAbi.ThreadSerialized },
        { "MPI_MAX_LIBRARY_VERSION_STRING", MpichAbi.MaxLibraryVersionString },
        { "MPI_MAX_ERROR_STRING", MpichAbi.MaxErrorString },
    };

    [MpiHeaderFact]
    public void Every_handle_the_binding_uses_has_the_value_of_the_installed_header()
    {
        var defines = Defines(File.ReadAllText(MpiInstallation.Header!));
        foreach (var (name, value) in Constants.Select(row => ((string)row[0], (long)row[1])))
        {
            defines.Should().ContainKey(name);
            defines[name].Should().Be(value, $"{name} in {MpiInstallation.Header}");
        }
    }

    [Fact]
    public void The_header_reader_reads_the_forms_mpich_writes()
    {
        var defines = Defines("#define MPI_COMM_WORLD ((MPI_Comm)0x44000000)\n#define MPI_SUM     (MPI_Op)(0x58000003)\n#define MPI_IN_PLACE  (void *) -1\n#define MPI_SUCCESS          0      /* ok */\n");
        defines.Should().Equal(new Dictionary<string, long> { ["MPI_COMM_WORLD"] = 0x44000000, ["MPI_SUM"] = 0x58000003, ["MPI_IN_PLACE"] = -1, ["MPI_SUCCESS"] = 0 });
    }

    /// <summary>Every <c>#define NAME value</c> whose value, casts and parentheses removed, is an integer.</summary>
    private static Dictionary<string, long> Defines(string header)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in DefineLine().Matches(header))
        {
            var value = CastOrParenthesis().Replace(m.Groups["value"].Value, "").Trim();
            var negative = value.StartsWith('-');
            value = value.TrimStart('-').Trim();
            long parsed;
            var ok = value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? long.TryParse(value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out parsed)
                : long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out parsed);
            if (ok) result[m.Groups["name"].Value] = negative ? -parsed : parsed;
        }

        return result;
    }

    [GeneratedRegex(@"^\s*#\s*define\s+(?<name>MPI_\w+)\s+(?<value>[^/\n]+?)\s*(/\*.*)?$", RegexOptions.Multiline)]
    private static partial Regex DefineLine();

    [GeneratedRegex(@"\((MPI_\w+|void\s*\*)\)|[()]")]
    private static partial Regex CastOrParenthesis();
}
