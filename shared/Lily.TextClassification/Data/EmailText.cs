using System.Net;
using System.Text.RegularExpressions;
using System.Text;
using Lily.Tuners;

namespace Lily.TextClassification.Data;

/// <summary>
/// Turns a raw email into the text a classifier sees: the Subject, then the body without headers, with
/// quoted-printable and base64 text parts decoded, HTML tags stripped, whitespace collapsed, capped in length.
/// Attachments (non-text parts) are dropped. Deliberately simple: the corpus is 2002-era mail, not a MIME test suite.
/// </summary>
public static partial class EmailText
{
    /// <summary>The default cap in characters (the model reads 128 word-pieces, far fewer than this).</summary>
    public const int DefaultMaxChars = 2000;

    private const int MaxDepth = 8;

    /// <summary>Extracts the classification text of a raw email.</summary>
    /// <param name="rawEmail">The email as stored (headers, blank line, body).</param>
    /// <param name="maxChars">The cap on the result's length.</param>
    /// <returns>Subject and body text, whitespace collapsed.</returns>
    public static string Extract(string rawEmail, int maxChars = DefaultMaxChars)
    {
        var (headers, body) = SplitHeaders(rawEmail.Replace("\r\n", "\n", StringComparison.Ordinal));
        var subject = DecodeEncodedWords(headers.GetValueOrDefault("subject") ?? string.Empty);
        var text = Collapse(subject + " " + BodyText(headers, body, 0));
        return text.Length <= maxChars ? text : text[..maxChars];
    }

    /// <summary>Strips HTML: drops scripts, styles and comments, replaces tags by spaces, decodes entities.</summary>
    /// <param name="html">The HTML.</param>
    /// <returns>The visible text (whitespace not yet collapsed).</returns>
    public static string StripHtml(string html)
    {
        var text = ScriptOrStyle().Replace(html, " ");
        text = Comment().Replace(text, " ");
        text = Tag().Replace(text, " ");
        return WebUtility.HtmlDecode(text);
    }

    /// <summary>Decodes quoted-printable text to bytes (soft line breaks removed).</summary>
    /// <param name="text">The encoded text.</param>
    /// <returns>The bytes.</returns>
    public static byte[] DecodeQuotedPrintable(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '=' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                i++;
            }
            else if (c == '=' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c < 256)
            {
                bytes.Add((byte)c);
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }

        return bytes.ToArray();
    }

    private static string BodyText(Dictionary<string, string> headers, string body, int depth)
    {
        var contentType = headers.GetValueOrDefault("content-type") ?? "text/plain";
        var mediaType = contentType.Split(';')[0].Trim().ToLowerInvariant();
        if (depth < MaxDepth && mediaType.StartsWith("multipart/", StringComparison.Ordinal)
            && Parameter(contentType, "boundary") is { Length: > 0 } boundary)
        {
            var parts = SplitMultipart(body, boundary)
                .Select(SplitHeaders)
                .Select(p => (Type: (p.Headers.GetValueOrDefault("content-type") ?? "text/plain").Split(';')[0].Trim().ToLowerInvariant(),
                              Text: BodyText(p.Headers, p.Body, depth + 1)))
                .Where(p => !string.IsNullOrWhiteSpace(p.Text))
                .ToList();
            // An alternative's parts say the same thing twice; the plain one needs no tag stripping.
            if (mediaType == "multipart/alternative" && parts.Count > 1)
            {
                parts = [parts.FirstOrDefault(p => p.Type == "text/plain", parts[0])];
            }

            return string.Join(" ", parts.Select(p => p.Text));
        }

        if (depth < MaxDepth && mediaType == "message/rfc822")
        {
            var inner = SplitHeaders(body);
            return BodyText(inner.Headers, inner.Body, depth + 1);
        }

        if (!mediaType.StartsWith("text/", StringComparison.Ordinal) && !mediaType.StartsWith("multipart/", StringComparison.Ordinal))
        {
            return string.Empty;
        }

        var text = Decode(body, headers.GetValueOrDefault("content-transfer-encoding"), Parameter(contentType, "charset"));
        // Much spam sends HTML with no (or a wrong) content type, so look at the text too.
        return mediaType == "text/html" || LooksLikeHtml().IsMatch(text) ? StripHtml(text) : text;
    }

    private static string Decode(string body, string? transferEncoding, string? charset)
    {
        byte[] bytes;
        switch (transferEncoding?.Trim().ToLowerInvariant())
        {
            case "quoted-printable":
                bytes = DecodeQuotedPrintable(body);
                break;
            case "base64":
                try
                {
                    bytes = Convert.FromBase64String(Whitespace().Replace(body, string.Empty));
                }
                catch (FormatException)
                {
                    return body;
                }

                break;
            default:
                return body;
        }

        return CharsetEncoding(charset).GetString(bytes);
    }

    private static Encoding CharsetEncoding(string? charset) =>
        charset?.Trim().ToLowerInvariant() switch
        {
            "utf-8" or "utf8" => Encoding.UTF8,
            "us-ascii" or "ascii" => Encoding.ASCII,
            // Latin-1 maps every byte to a character, so legacy charsets degrade instead of failing.
            _ => Encoding.Latin1,
        };

    private static IEnumerable<string> SplitMultipart(string body, string boundary)
    {
        var delimiter = "--" + boundary;
        var current = (StringBuilder?)null;
        foreach (var line in body.Split('\n'))
        {
            var trimmed = line.TrimEnd();
            if (trimmed == delimiter || trimmed == delimiter + "--")
            {
                if (current is not null)
                {
                    yield return current.ToString();
                }

                if (trimmed.EndsWith("--", StringComparison.Ordinal) && trimmed.Length == delimiter.Length + 2)
                {
                    yield break;
                }

                current = new StringBuilder();
            }
            else
            {
                current?.Append(line).Append('\n');
            }
        }

        if (current is not null)
        {
            yield return current.ToString();
        }
    }

    private static (Dictionary<string, string> Headers, string Body) SplitHeaders(string message)
    {
        var fields = new List<(string Name, string Value)>();
        var lines = message.Split('\n');
        var i = 0;
        for (; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0)
            {
                i++;
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line[0] is ' ' or '\t')
            {
                // A folded line continues the previous header.
                if (fields.Count > 0)
                {
                    fields[^1] = (fields[^1].Name, fields[^1].Value + " " + line.Trim());
                }
            }
            else if (colon > 0)
            {
                fields.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }

            // Anything else (the mbox "From " separator line) is neither header nor body.
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in fields)
        {
            // The first occurrence wins: later ones are usually relays' additions.
            headers.TryAdd(name, value);
        }

        return (headers, string.Join("\n", lines.Skip(i)));
    }

    private static string? Parameter(string headerValue, string parameter)
    {
        var match = Regex.Match(headerValue, $@"(?:^|;)\s*{parameter}\s*=\s*(?:""([^""]*)""|([^;\s]+))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return match.Success ? (match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value) : null;
    }

    private static string DecodeEncodedWords(string header) =>
        EncodedWord().Replace(header, m =>
        {
            var encoding = CharsetEncoding(m.Groups[1].Value);
            var payload = m.Groups[3].Value;
            try
            {
                return m.Groups[2].Value.ToUpperInvariant() == "B"
                    ? encoding.GetString(Convert.FromBase64String(payload))
                    : encoding.GetString(DecodeQuotedPrintable(payload.Replace('_', ' ')));
            }
            catch (FormatException)
            {
                return m.Value;
            }
        });

    private static string Collapse(string text) => Whitespace().Replace(text, " ").Trim();

    [GeneratedRegex(@"<(script|style)\b[^>]*>.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"</?[a-zA-Z!][^>]*>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"<\s*(html|body|p|br|div|font|table|a\s)\b", RegexOptions.IgnoreCase)]
    private static partial Regex LooksLikeHtml();

    [GeneratedRegex(@"=\?([^?]+)\?([BbQq])\?([^?]*)\?=")]
    private static partial Regex EncodedWord();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
