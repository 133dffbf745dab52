using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Distributed.Tests;

/// <summary>
/// The warning data parallelism gives at start (rank 0 of more than one) for layers whose routing mixes
/// across the batch. It reads <see cref="IRoutedAdapter.MixesAcrossBatch"/>, so Lily is checked here as any
/// routed method would be (tests/Lily.Tests/ExternalMethod checks that a routed method defined outside the
/// library declares it truthfully).
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

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
