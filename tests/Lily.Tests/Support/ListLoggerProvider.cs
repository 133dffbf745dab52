using Microsoft.Extensions.Logging;

namespace Lily.Tests.Support;

/// <summary>Collects formatted log messages so tests can read what the library logged.</summary>
public sealed class ListLoggerProvider : ILoggerProvider
{
    public List<string> Messages { get; } = new();

    /// <summary>The messages logged at <see cref="LogLevel.Warning"/> or above.</summary>
    public List<string> Warnings { get; } = new();

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public void Dispose()
    {
    }

    private sealed class ListLogger(ListLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner.Messages)
            {
                owner.Messages.Add(formatter(state, exception));
                if (logLevel >= LogLevel.Warning) owner.Warnings.Add(formatter(state, exception));
            }
        }
    }
}
