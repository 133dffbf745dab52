using Lily.TextClassification.Data;

namespace Lily.Bert.Tests.Data;

public sealed class EmailTextTests
{
    private const string Email =
        "From someone@example.com  Tue Aug  6 11:51:02 2002\n" +
        "Return-Path: <someone@example.com>\n" +
        "Received: from relay.example.com\n" +
        "\tby mx.example.org with ESMTP\n" +
        "Subject: =?utf-8?Q?Caf=C3=A9_offer?= today\n" +
        "MIME-Version: 1.0\n" +
        "Content-Type: multipart/mixed; boundary=\"XYZ\"\n" +
        "\n" +
        "This is a multi-part message in MIME format.\n" +
        "--XYZ\n" +
        "Content-Type: text/plain; charset=utf-8\n" +
        "Content-Transfer-Encoding: quoted-printable\n" +
        "\n" +
        "Cr=C3=A8me br=C3=BBl=C3=A9e for every=\n" +
        "one,   soft   break.\n" +
        "--XYZ\n" +
        "Content-Type: text/html\n" +
        "Content-Transfer-Encoding: base64\n" +
        "\n" +
        "PGh0bWw+PGJvZHk+PHN0eWxlPnAge2NvbG9yOnJlZH08L3N0eWxlPjxwPkNsaWNrIDxiPmhlcmU8L2I+\n" +
        "ICZhbXA7IHdpbjwvcD48L2JvZHk+PC9odG1sPg==\n" +
        "--XYZ\n" +
        "Content-Type: application/octet-stream; name=\"a.bin\"\n" +
        "Content-Transfer-Encoding: base64\n" +
        "\n" +
        "QklOQVJZQVRUQUNITUVOVA==\n" +
        "--XYZ--\n" +
        "epilogue ignored\n";

    [Fact]
    public void Html_part_fixture_is_what_the_test_claims()
    {
        // Guards the fixture itself: the base64 part really is this HTML.
        var html = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(
            "PGh0bWw+PGJvZHk+PHN0eWxlPnAge2NvbG9yOnJlZH08L3N0eWxlPjxwPkNsaWNrIDxiPmhlcmU8L2I+ICZhbXA7IHdpbjwvcD48L2JvZHk+PC9odG1sPg=="));
        html.Should().Be("<html><body><style>p {color:red}</style><p>Click <b>here</b> &amp; win</p></body></html>");
    }

    [Fact]
    public void Extract_keeps_subject_and_decoded_text_parts_only()
    {
        var text = EmailText.Extract(Email);
        text.Should().Be("Café offer today Crème brûlée for everyone, soft break. Click here & win");
    }

    [Fact]
    public void Extract_removes_headers_and_caps_length()
    {
        var text = EmailText.Extract(Email, maxChars: 20);
        text.Should().Be("Café offer today Crè");
        EmailText.Extract(Email).Should().NotContainAny("Return-Path", "Received", "relay", "ESMTP", "MIME", "BINARY", "epilogue", "<", "color");
    }

    [Fact]
    public void Plain_email_without_mime_is_body_after_first_blank_line()
    {
        var text = EmailText.Extract("Subject: Hi\nX-Spam: no\n\nLine one\n\n\nLine <b>two</b>\n");
        text.Should().Be("Hi Line one Line <b>two</b>", "a plain-text body that does not look like HTML is left alone");
        EmailText.Extract("Subject: Hi\n\n<html><body><p>Buy&nbsp;now</p></body></html>").Should().Be("Hi Buy now");
    }
}
