using Lily.Serialization;
using TorchSharp;

namespace Lily.Tests.Serialization;

// SafeTensorsDType is internal, so a public test method cannot take it as a parameter: theories pass its name.
public sealed class SafeTensorsDTypeTests
{
    [Theory]
    [InlineData(nameof(SafeTensorsDType.Bool), "BOOL", 1)]
    [InlineData(nameof(SafeTensorsDType.U8), "U8", 1)]
    [InlineData(nameof(SafeTensorsDType.I8), "I8", 1)]
    [InlineData(nameof(SafeTensorsDType.F8E5M2), "F8_E5M2", 1)]
    [InlineData(nameof(SafeTensorsDType.F8E4M3), "F8_E4M3", 1)]
    [InlineData(nameof(SafeTensorsDType.I16), "I16", 2)]
    [InlineData(nameof(SafeTensorsDType.U16), "U16", 2)]
    [InlineData(nameof(SafeTensorsDType.F16), "F16", 2)]
    [InlineData(nameof(SafeTensorsDType.BF16), "BF16", 2)]
    [InlineData(nameof(SafeTensorsDType.I32), "I32", 4)]
    [InlineData(nameof(SafeTensorsDType.U32), "U32", 4)]
    [InlineData(nameof(SafeTensorsDType.F32), "F32", 4)]
    [InlineData(nameof(SafeTensorsDType.F64), "F64", 8)]
    [InlineData(nameof(SafeTensorsDType.I64), "I64", 8)]
    [InlineData(nameof(SafeTensorsDType.U64), "U64", 8)]
    public void Header_string_and_element_size(string dtypeName, string header, int size)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        dtype.ToHeaderString().Should().Be(header);
        dtype.ElementSize().Should().Be(size);
        SafeTensorsDTypeExtensions.ParseHeaderString(header).Should().Be(dtype);
    }

    [Fact]
    public void All_lists_every_value_in_reference_order()
    {
        SafeTensorsDTypeExtensions.All.Should().Equal(Enum.GetValues<SafeTensorsDType>());
        SafeTensorsDTypeExtensions.All.Select(d => d.ToHeaderString()).Should().Equal(
            "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64");
    }

    [Theory]
    [InlineData("F17")]
    [InlineData("f32")]
    [InlineData(" F32")]
    [InlineData("Bool")]
    [InlineData("")]
    public void Unknown_header_string_is_a_clear_error(string text)
    {
        var act = () => SafeTensorsDTypeExtensions.ParseHeaderString(text);

        act.Should().Throw<FormatException>().WithMessage($"Unknown safetensors dtype '{text}'; known dtypes are BOOL, U8, I8, *, U64.");
        SafeTensorsDTypeExtensions.TryParseHeaderString(text, out _).Should().BeFalse();
        SafeTensorsDTypeExtensions.TryParseHeaderString(null, out _).Should().BeFalse();
    }

    [Theory]
    [InlineData(nameof(SafeTensorsDType.Bool), torch.ScalarType.Bool)]
    [InlineData(nameof(SafeTensorsDType.U8), torch.ScalarType.Byte)]
    [InlineData(nameof(SafeTensorsDType.I8), torch.ScalarType.Int8)]
    [InlineData(nameof(SafeTensorsDType.I16), torch.ScalarType.Int16)]
    [InlineData(nameof(SafeTensorsDType.F16), torch.ScalarType.Float16)]
    [InlineData(nameof(SafeTensorsDType.BF16), torch.ScalarType.BFloat16)]
    [InlineData(nameof(SafeTensorsDType.I32), torch.ScalarType.Int32)]
    [InlineData(nameof(SafeTensorsDType.F32), torch.ScalarType.Float32)]
    [InlineData(nameof(SafeTensorsDType.F64), torch.ScalarType.Float64)]
    [InlineData(nameof(SafeTensorsDType.I64), torch.ScalarType.Int64)]
    public void Maps_to_and_from_torch_scalar_types_with_matching_element_size(string dtypeName, torch.ScalarType scalarType)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        dtype.ToScalarType().Should().Be(scalarType);
        scalarType.ToSafeTensorsDType().Should().Be(dtype);
        using var probe = torch.empty([1], dtype: scalarType);
        probe.element_size().Should().Be(dtype.ElementSize());
    }

    [Theory]
    [InlineData(nameof(SafeTensorsDType.U16))]
    [InlineData(nameof(SafeTensorsDType.U32))]
    [InlineData(nameof(SafeTensorsDType.U64))]
    [InlineData(nameof(SafeTensorsDType.F8E5M2))]
    [InlineData(nameof(SafeTensorsDType.F8E4M3))]
    public void Dtypes_without_a_torch_type_say_so(string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        var act = () => dtype.ToScalarType();

        act.Should().Throw<NotSupportedException>().WithMessage($"safetensors dtype {dtype.ToHeaderString()} has no TorchSharp scalar type*");
        dtype.TryGetScalarType(out _).Should().BeFalse();
    }

    [Theory]
    [InlineData(torch.ScalarType.ComplexFloat32)]
    [InlineData(torch.ScalarType.ComplexFloat64)]
    [InlineData(torch.ScalarType.QInt8)]
    public void Torch_types_safetensors_cannot_store_say_so(torch.ScalarType scalarType)
    {
        var act = () => scalarType.ToSafeTensorsDType();

        act.Should().Throw<NotSupportedException>().WithMessage($"TorchSharp scalar type {scalarType} has no safetensors dtype.");
    }

    [Fact]
    public void Undefined_value_is_rejected()
    {
        var act = () => ((SafeTensorsDType)42).ElementSize();

        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
