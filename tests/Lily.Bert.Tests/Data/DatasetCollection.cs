namespace Lily.Bert.Tests.Data;

/// <summary>Shares one <see cref="DatasetFixture"/> among the data test classes.</summary>
[CollectionDefinition(Name)]
public sealed class DatasetCollection : ICollectionFixture<DatasetFixture>
{
    public const string Name = "datasets";
}
