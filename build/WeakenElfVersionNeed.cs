// Marks one ELF version-need weak: the MSBuild task below (compiled by RoslynCodeTaskFactory for a
// build's output folder) and the library's runtime fix (src/Lily/Native, for a package loaded from the
// NuGet cache) share the ELF edit in ElfVersionNeed; Lily compiles this file with LILY_RUNTIME defined.
//
// Why: TorchSharp 0.107's libLibTorchSharp.so records a need for GLIBCXX_3.4.32 (GCC 13).
// The only symbol behind that version is std::ios_base_library_init(), a link anchor that is
// never called. On systems whose libstdc++ stops at 3.4.30 (Debian 12) the dynamic loader
// refuses the library. Setting VER_FLG_WEAK on that one vernaux entry turns the hard failure
// into "version not found, carry on", which is exactly right for an unused anchor.
//
// The task only touches the copy in the build output, only when the system libstdc++ lacks
// the version, and only the version it is told about: any other missing version is reported,
// never hidden.
#nullable enable
using System;
using System.IO;
using System.Text;
#if !LILY_RUNTIME
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeed : Task
{
    /// <summary>The shared library to patch in place (a build-output copy).</summary>
    [Required] public string Library { get; set; } = "";

    /// <summary>The version-need to weaken, e.g. GLIBCXX_3.4.32.</summary>
    [Required] public string VersionName { get; set; } = "";

    /// <summary>Candidate paths of the system libstdc++; the first that exists is inspected.</summary>
    [Required] public string[] SystemLibraryCandidates { get; set; } = Array.Empty<string>();

    public override bool Execute()
    {
        if (!File.Exists(Library))
        {
            Log.LogMessage(MessageImportance.Low, $"{Library} not present; nothing to patch.");
            return true;
        }
        string? system = Array.Find(SystemLibraryCandidates, File.Exists);
        if (system is null)
        {
            Log.LogMessage(MessageImportance.Normal, "No system libstdc++ found among the candidates; leaving " + Library + " unchanged.");
            return true;
        }
        if (Lily.Native.ElfVersionNeed.Contains(File.ReadAllBytes(system), Encoding.ASCII.GetBytes(VersionName + "\0")))
        {
            Log.LogMessage(MessageImportance.Low, $"{system} provides {VersionName}; no patch needed.");
            return true;
        }

        byte[] elf = File.ReadAllBytes(Library);
        string? error = Lily.Native.ElfVersionNeed.Weaken(elf, VersionName, out bool changed);
        if (error is not null)
        {
            Log.LogWarning($"Cannot weaken {VersionName} in {Library}: {error}. TorchSharp may fail to load on this system.");
            return true;
        }
        if (!changed)
        {
            Log.LogMessage(MessageImportance.Low, $"{VersionName} in {Library} is already weak.");
            return true;
        }
        // Write beside, then replace: never modify a file that may be hard-linked to the package cache.
        string temp = Library + ".weakening";
        File.WriteAllBytes(temp, elf);
        File.Delete(Library);
        File.Move(temp, Library);
        Log.LogMessage(MessageImportance.High, $"Marked version-need {VersionName} weak in {Path.GetFileName(Library)} (system libstdc++ {system} lacks it).");
        return true;
    }
}
#endif

namespace Lily.Native
{
/// <summary>The ELF edit: set VER_FLG_WEAK on one version-need entry of a little-endian ELF64 file.</summary>
internal static class ElfVersionNeed
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    public static string? Weaken(byte[] elf, string version, out bool changed)
    {
        changed = false;
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            return "not an ELF file";
        if (elf[4] != 2 || elf[5] != 1)
            return "only little-endian ELF64 is handled";

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        if (shoff == 0 || shentsize < 64 || shoff + (ulong)(shnum * shentsize) > (ulong)elf.Length)
            return "section headers out of range";

        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, sh + 0x2C);
            if (link >= shnum) return "bad string-table link";
            long strtab = (long)BitConverter.ToUInt64(elf, checked((int)shoff + link * shentsize + 0x18));

            long vn = offset;
            for (int n = 0; n < count; n++)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadCString(elf, strtab + name) == version)
                    {
                        if ((flags & VerFlgWeak) != 0) return null;
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)aux + 4);
                        changed = true;
                        return null;
                    }
                    uint next = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
            return $"no version-need named {version}";
        }
        return "no .gnu.version_r section";
    }

    private static string ReadCString(byte[] data, long start)
    {
        long end = start;
        while (end < data.Length && data[end] != 0) end++;
        return Encoding.ASCII.GetString(data, (int)start, (int)(end - start));
    }

    public static bool Contains(byte[] haystack, byte[] needle)
    {
        // The task compiles against netstandard, so no Span search: a plain scan is quick enough.
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
}
