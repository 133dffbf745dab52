using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Distributed.Tests;

/// <summary>
/// The warning data parallelism gives at start (rank 0 of more than one) for layers whose routing mixes
/// across the batch. It reads <see cref="IRoutedAdapter.MixesAcrossBatch"/>: Lily is found by it, and so is
/// routed LoRA, the routed method defined outside the library (its source is compiled in from
/// tests/Lily.Tests/ExternalMethod, whose tests check that it declares the flag truthfully).
/// </summary>
public sealed class BatchRoutingCheckTests
{
    private static PeftModel<nn.Module<Tensor, Tensor>> Adapted(PeftConfig config)
    {
        manual_seed(3);
        var model = nn.Sequential(("fc1", nn.Linear(4, 4)), ("fc2", nn.Linear(4, 4)), ("head", nn.Linear(4, 2)));
        return PeftModel.Create<nn.Module<Tensor, Tensor>>(model, config);
    }

    [Fact]
    public void Batch_mean_Lily_layers_are_found_and_warned_of_once()
    {
        var peft = Adapted(new LilyConfig { TargetModules = ["fc1", "fc2"], R = 2, NumB = 2, Routing = LilyRouting.BatchMean });
        var logger = new ListLogger();

        BatchRoutingCheck.LayersMixingAcrossBatch(peft).Should().Equal("fc1", "fc2");
        BatchRoutingCheck.Warn(peft, logger);

        logger.Entries.Should().ContainSingle().Which.Should().Match<(LogLevel Level, string Message)>(
            e => e.Level == LogLevel.Warning && e.Message.StartsWith("2 routed layers mix their experts by the batch mean") && e.Message.Contains("first: fc1"));
    }

    [Theory]
    [InlineData("lily-per-sample")]
    [InlineData("lora")]
    public void Layers_that_do_not_mix_across_the_batch_give_no_warning(string method)
    {
        PeftConfig config = method == "lora"
            ? new LoraConfig { TargetModules = ["fc1", "fc2"], R = 2 }
            : new LilyConfig { TargetModules = ["fc1", "fc2"], R = 2, NumB = 2, Routing = LilyRouting.PerSample };
        var peft = Adapted(config);
        var logger = new ListLogger();

        BatchRoutingCheck.LayersMixingAcrossBatch(peft).Should().BeEmpty();
        BatchRoutingCheck.Warn(peft, logger);

        logger.Entries.Should().BeEmpty();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_routed_method_defined_outside_the_library_is_found_by_its_capability(bool perToken)
    {
        var peft = Adapted(new Lily.Tests.ExternalMethod.RoutedLoraConfig { TargetModules = ["fc1", "fc2"], R = 2, Experts = 2 });
        foreach (var layer in peft.AdaptedModules.Select(a => (Lily.Tests.ExternalMethod.RoutedLoraLinear)a.Layer))
            layer.PerToken = perToken;
        var logger = new ListLogger();

        BatchRoutingCheck.LayersMixingAcrossBatch(peft).Should().Equal(perToken ? [] : ["fc1", "fc2"]);
        BatchRoutingCheck.Warn(peft, logger);

        logger.Entries.Should().HaveCount(perToken ? 0 : 1);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
