using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>
/// <c>Save</c> of a default and a named adapter: a failure while checking folders or writing files changes no pair
/// at all (the default's is not replaced ahead of the named one's failure).
/// </summary>
public sealed class MultiAdapterSaveTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("lily-multi-save-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static PeftModel<ToyModel> Model(int seed)
    {
        torch.manual_seed(seed);
        var peft = PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj"], R = 2 + seed % 2 });
        peft.AddAdapter("second", new LoraConfig { TargetModules = ["v_proj"], R = 2 });
        AdapterFiles.Randomize(peft);
        return peft;
    }

    // Every file below the folder (lock files aside) with its bytes.
    private Dictionary<string, byte[]> Files() =>
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p) != DirectoryLock.FileName)
            .ToDictionary(p => Path.GetRelativePath(directory, p), File.ReadAllBytes);

    private void Unchanged(Dictionary<string, byte[]> before)
    {
        var after = Files();
        after.Keys.Should().BeEquivalentTo(before.Keys, "no pending file may remain and none may go");
        foreach (var (name, bytes) in before) after[name].Should().Equal(bytes, $"{name} must keep the previous save");
    }

    [Theory]
    [InlineData("temp-written:adapter_model.safetensors", "second")]
    [InlineData("temp-written:adapter_config.json", "second")]
    [InlineData("temp-written:adapter_config.json", "default")]
    public void Failure_while_writing_any_adapter_leaves_every_pair_as_it_was(string step, string where)
    {
        Model(1).Save(directory);
        var before = Files();
        var folder = where == "default" ? directory : Path.Combine(directory, where);

        var save = () => Model(2).SaveWithFaultHook(directory, AdapterLayout.Peft, (dir, s) =>
        {
            if (dir == folder && s == step) throw new IOException("disk full (injected)");
        });

        save.Should().Throw<IOException>().WithMessage("disk full (injected)");
        Unchanged(before);
    }

    [Fact]
    public void Named_adapter_folder_taken_by_a_file_is_refused_before_any_pair_changes()
    {
        Model(1).Save(directory);
        Directory.Delete(Path.Combine(directory, "second"), recursive: true);
        File.WriteAllText(Path.Combine(directory, "second"), "a file, not a folder");
        var before = Files();

        var save = () => Model(2).Save(directory);

        save.Should().Throw<IOException>().WithMessage($"*'{Path.Combine(directory, "second")}'*not a folder*Nothing was written*");
        Unchanged(before);
    }

    [Fact]
    public void Both_pairs_are_replaced_when_nothing_fails()
    {
        Model(1).Save(directory);
        var second = Model(2);

        second.Save(directory);

        var reader = Model(3);
        reader.LoadAdapter(directory, "a");
        reader.LoadAdapter(Path.Combine(directory, "second"), "b");
        ((LoraConfig)reader.Configs["a"]).R.Should().Be(((LoraConfig)second.Configs["default"]).R);
        ((LoraConfig)reader.Configs["b"]).TargetModules.Should().Equal("v_proj");
    }

    [Fact]
    public void Adapter_names_are_bounded_in_length()
    {
        var peft = Model(1);
        var tooLong = new string('a', PeftModel<ToyModel>.MaxAdapterNameLength + 1);

        var add = () => peft.AddAdapter(tooLong, new LoraConfig { TargetModules = ["k_proj"], R = 2 });

        add.Should().Throw<ArgumentException>().WithMessage($"*at most {PeftModel<ToyModel>.MaxAdapterNameLength}*");
        peft.AddAdapter(new string('a', PeftModel<ToyModel>.MaxAdapterNameLength), new LoraConfig { TargetModules = ["k_proj"], R = 2 });
    }

    [Fact]
    public void Bad_adapter_name_is_refused_before_the_folder_is_read_or_changed()
    {
        Model(1).Save(directory);
        // Leftovers that any writer would clean up: a load with a bad name must not even look.
        var stray = Path.Combine(directory, ".adapter_config.json.0123456789abcdef0123456789abcdef.lily-pending");
        File.WriteAllText(stray, "stray");
        var before = Files();

        var load = () => Model(2).LoadAdapter(directory, "../x");

        load.Should().Throw<ArgumentException>().WithMessage("*'../x'*");
        Unchanged(before);
    }

    [Fact]
    public void Load_changes_nothing_in_the_folder()
    {
        Model(1).Save(directory);
        var stray = Path.Combine(directory, ".adapter_config.json.0123456789abcdef0123456789abcdef.lily-pending");
        File.WriteAllText(stray, "a save in progress, or a leftover");
        var before = Files();

        Model(2).LoadAdapter(directory, "x");
        PeftModel.LoadConfig(directory);

        Unchanged(before);
        File.Exists(Path.Combine(directory, DirectoryLock.FileName)).Should().BeTrue("the lock file of the first save stays");
    }

    [Fact]
    public void Load_after_a_crash_past_the_commit_point_reads_the_new_pair_without_finishing_it()
    {
        Model(1).Save(directory);
        var crashed = () => Model(2).SaveWithFaultHook(directory, AdapterLayout.Peft, (dir, step) =>
        {
            if (dir == directory && step == "committed") throw new InvalidOperationException("crash");
        });
        crashed.Should().Throw<InvalidOperationException>();
        var before = Files();
        before.Keys.Should().Contain(".lily-commit.json");

        var config = (LoraConfig)PeftModel.LoadConfig(directory);
        var reader = Model(3);
        reader.LoadAdapter(directory, "x");

        config.R.Should().Be(2, "the committed save (seed 2, rank 2) is what a load sees");
        ((LoraConfig)reader.Configs["x"]).R.Should().Be(2);
        Unchanged(before);
        Model(4).Save(directory);
        Files().Keys.Should().NotContain(".lily-commit.json", "the next save finishes (or replaces) it");
    }

    [Fact]
    public void Config_edited_by_hand_after_the_save_is_loaded_as_it_is()
    {
        Model(1).Save(directory);
        var path = Path.Combine(directory, AdapterConfigFile.FileName);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"lora_alpha\": 8", "\"lora_alpha\": 5", StringComparison.Ordinal));

        var reader = Model(3);
        reader.LoadAdapter(directory, "x");

        ((LoraConfig)reader.Configs["x"]).LoraAlpha.Should().Be(5);
    }

    [Fact]
    public void Save_fails_loudly_when_one_of_its_pending_files_disappears()
    {
        Model(1).Save(directory);

        var save = () => Model(2).SaveWithFaultHook(directory, AdapterLayout.Peft, (dir, step) =>
        {
            // Something outside the library deletes a pending file after the commit point.
            if (dir == directory && step == "committed")
                File.Delete(Directory.GetFiles(directory, ".adapter_model.safetensors.*.lily-pending").Single());
        });

        save.Should().Throw<IOException>().WithMessage("*lost its pending file*adapter_model.safetensors*");
    }
}
