#!/usr/bin/env python3
"""Cost of a BERT (MiniLM-sized) training step with Hugging Face PEFT's LoRA, in plain PyTorch.

The reference beside `Lily.Benchmarks --bert`: the same model shape and batch, the same step
(forward, cross-entropy, backward, AdamW), timed on the same machine. It is a bench script, not a
test dependency, and it needs neither `transformers` nor a network:

* the BERT below is written here with Hugging Face's parameter names and the arithmetic of
  `transformers`' eager `BertModel` (embeddings + LayerNorm, self-attention with an additive mask,
  erf GELU, post-LN residual blocks), mean pooling and a Linear classifier, as Lily.Bert's
  `BertForSequenceClassification(pooling: Mean)` does;
* PEFT's own LoRA code is used (`peft.inject_adapter_in_model`, `LoraLayer.merge`), imported from a
  source checkout given by --peft-src (e.g. `git archive` of github.com/huggingface/peft's src/peft).
  PEFT imports `transformers`, `accelerate`, `huggingface_hub` and `safetensors` at module level, and
  none of them is installable on the bench machine; the modules that are missing are replaced, in this
  process only, by permissive placeholders (see `install_placeholders`). LoRA on `nn.Linear` calls none
  of them: they are only named in imports, base classes and `isinstance` checks of other layer kinds.

Weights are random (the time of a step does not depend on their values) unless --weights names a
safetensors file (e.g. the MiniLM checkpoint Lily.Bert converts to ~/.cache/lily-bert/minilm/*/model.safetensors),
which is parsed here by hand (8-byte header length, JSON header, raw little-endian tensors).

Timing: every configuration's operations are run once per round, interleaved, after warm-up
rounds; per-operation medians and per-round ratios (median) are reported. Run with
OPENBLAS_NUM_THREADS=1 and --threads 1 for the single-thread comparison (the script sets the
OpenBLAS variable itself when it is unset, before importing torch).
"""

import argparse
import csv
import importlib.abc
import importlib.machinery
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import types

if __name__ == "__main__":
    # Must precede importing torch: OpenBLAS reads it once, when it is loaded.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from torch import nn

# ---------------------------------------------------------------------------------------------
# Placeholders for the packages PEFT imports but LoRA on nn.Linear never calls.
# ---------------------------------------------------------------------------------------------

PLACEHOLDER_ROOTS = ("transformers", "accelerate", "huggingface_hub", "safetensors")

# Versions PEFT compares against at import time (packaging.version.parse): a released 4.x
# transformers keeps PEFT on its long-standing code paths.
PLACEHOLDER_VERSIONS = {"transformers": "4.57.0", "accelerate": "1.10.0", "huggingface_hub": "0.35.0", "safetensors": "0.6.0"}


class _PlaceholderMeta(type):
    """Class of placeholder classes: any attribute is another placeholder; nothing is an instance of one."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{cls.__name__}.{name}")

    def __getitem__(cls, item):
        return cls

    # A placeholder matches nothing; a real class that derives from one (PEFT's PeftConfigMixin derives
    # from transformers' PushToHubMixin) keeps the ordinary checks.
    def __instancecheck__(cls, instance):
        return False if "_placeholder" in cls.__dict__ else type.__instancecheck__(cls, instance)

    def __subclasscheck__(cls, subclass):
        return cls in getattr(subclass, "__mro__", ())


def _placeholder(name):
    """A class that can be a base class, called, subscripted and read from, and matches nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, attribute):
        # Only a placeholder's own instances answer everything; a real subclass's missing attribute stays missing.
        if attribute.startswith("__") or "_placeholder" not in type(self).__dict__:
            raise AttributeError(attribute)
        return lambda *args, **kwargs: None

    return _PlaceholderMeta(name.rsplit(".", 1)[-1], (), {"_placeholder": True, "__init__": __init__, "__getattr__": __getattr__, "__module__": name.rsplit(".", 1)[0]})


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _placeholder(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `root` and every `root.x.y` as a placeholder package, for the roots that are not installed."""

    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in self.roots:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _PlaceholderModule(spec.name)
        module.__path__ = []
        module.__version__ = PLACEHOLDER_VERSIONS.get(spec.name, "0.0.0")
        return module

    def exec_module(self, module):
        pass


def install_placeholders():
    """Installs placeholders for the roots that cannot be imported; returns their names."""
    missing = []
    for root in PLACEHOLDER_ROOTS:
        try:
            __import__(root)
        except ImportError:
            missing.append(root)
    if missing:
        sys.meta_path.insert(0, _PlaceholderFinder(missing))
    return missing


def import_peft(peft_src):
    """Imports PEFT from a source tree (the folder that holds the `peft` package)."""
    placeholders = install_placeholders()
    if peft_src:
        sys.path.insert(0, peft_src)
    import peft  # noqa: F401  (the package __init__ imports every tuner: a full import check)
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    return peft, LoraConfig, inject_adapter_in_model, LoraLayer, placeholders


# ---------------------------------------------------------------------------------------------
# BERT with Hugging Face's parameter names and eager arithmetic.
# ---------------------------------------------------------------------------------------------


class Config:
    """all-MiniLM-L6-v2's shape by default."""

    def __init__(self, vocab=30522, hidden=384, layers=6, heads=12, ffn=1536, positions=512, types_=2, eps=1e-12, dropout=0.1):
        self.vocab, self.hidden, self.layers, self.heads, self.ffn = vocab, hidden, layers, heads, ffn
        self.positions, self.types, self.eps, self.dropout = positions, types_, eps, dropout


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab, c.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.types, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.dropout = nn.Dropout(c.dropout)
        self.register_buffer("position_ids", torch.arange(c.positions).unsqueeze(0), persistent=False)

    def forward(self, input_ids):
        length = input_ids.shape[1]
        token_types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_types) + self.position_embeddings(self.position_ids[:, :length])
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.head_size = c.heads, c.hidden // c.heads
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x, additive_mask):
        b, n, _ = x.shape

        def split(t):
            return t.view(b, n, self.heads, self.head_size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + additive_mask
        probabilities = self.dropout(scores.softmax(-1))
        return torch.matmul(probabilities, v).transpose(1, 2).reshape(b, n, self.heads * self.head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, c, inner):
        super().__init__()
        self.dense = nn.Linear(inner, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c.hidden)

    def forward(self, x, additive_mask):
        return self.output(self.self(x, additive_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.ffn)

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # erf GELU, Hugging Face's "gelu"


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c.ffn)  # Hugging Face's BertOutput: same shape of code

    def forward(self, x, additive_mask):
        a = self.attention(x, additive_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.layers)])

    def forward(self, x, additive_mask):
        for block in self.layer:
            x = block(x, additive_mask)
        return x


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)

    def forward(self, input_ids, attention_mask):
        # Hugging Face's extended mask: 0 where attended, the dtype's minimum where masked.
        additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        return self.encoder(self.embeddings(input_ids), additive)


class BertForSequenceClassification(nn.Module):
    """BertModel, masked mean pooling, dropout, Linear classifier (no pooler: mean pooling does not use it)."""

    def __init__(self, c, labels=2):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden, labels)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids, attention_mask)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return self.classifier(self.dropout(pooled))


# ---------------------------------------------------------------------------------------------
# safetensors by hand.
# ---------------------------------------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Name → float32 tensor, from the file's 8-byte little-endian header length, JSON header and data."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[begin:end]
        if entry["dtype"] == "BF16":
            values = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            values = np.frombuffer(raw, dtype=_DTYPES[entry["dtype"]])
        tensors[name] = torch.from_numpy(values.reshape(entry["shape"]).astype(np.float32 if values.dtype.kind == "f" else values.dtype))
    return tensors


def load_weights(model, path):
    """Loads a BertModel checkpoint into model.bert (names with or without a `bert.` prefix); returns (loaded, skipped)."""
    state = {}
    for name, value in read_safetensors(path).items():
        state[name[5:] if name.startswith("bert.") else name] = value
    own = model.bert.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.bert.load_state_dict(usable, strict=False)
    return len(usable), sorted(set(state) - set(usable))


# ---------------------------------------------------------------------------------------------
# The measured configurations.
# ---------------------------------------------------------------------------------------------


class Case:
    """A model with its trainable set and optimizer; `step`, `infer` are the timed operations."""

    def __init__(self, name, model, batch, merged_model=None):
        self.name, self.model, self.batch = name, model, batch
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=1e-4) if self.trainable else None
        self.merged_model = merged_model

    def trainable_count(self):
        return sum(p.numel() for p in self.trainable)

    def step(self):
        ids, mask, labels = self.batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.model(ids, mask), labels)
        loss.backward()
        self.optimizer.step()

    def infer(self):
        ids, mask, _ = self.batch
        self.model.eval()
        with torch.no_grad():
            self.model(ids, mask)

    def infer_merged(self):
        ids, mask, _ = self.batch
        self.merged_model.eval()
        with torch.no_grad():
            self.merged_model(ids, mask)


def build(config, weights, seed=0):
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    if weights:
        load_weights(model, weights)
    return model


def lora_model(config, weights, LoraConfig, inject, LoraLayer, targets, merged):
    """PEFT LoRA r 8, alpha 16 on `targets` (injected by PEFT), the classifier trained in full."""
    model = build(config, weights)
    peft_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets, bias="none")
    model = inject(peft_config, model)
    # inject_adapter_in_model leaves only the adapters trainable; the new head trains too (as modules_to_save would).
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    if merged:
        for module in model.modules():
            if isinstance(module, LoraLayer):
                with torch.no_grad():
                    nn.init.normal_(module.lora_B["default"].weight, std=0.02)  # a non-zero update, as after training
                module.merge()
    return model


def peft_commit(peft_src, given):
    """The commit given, else the checkout's (a `git archive` export has none: pass --peft-commit)."""
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", peft_src, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (pass --peft-commit)"


def blas_line():
    """BLAS_INFO / LAPACK_INFO of torch's build settings (Debian's says `generic`: the system libblas, see loaded_blas)."""
    fields = [f.strip() for f in torch.__config__.show().replace("\n", ",").split(",")]
    return ", ".join(f for f in fields if f.startswith(("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"))) or "not reported"


def loaded_blas():
    """The BLAS library actually mapped into this process (Debian's torch uses the alternatives link)."""
    try:
        with open("/proc/self/maps") as f:
            names = {line.split()[-1] for line in f if "blas" in line.lower()}
        return ", ".join(sorted(os.path.realpath(n) for n in names)) or "none mapped"
    except OSError:
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--peft-src", default=os.environ.get("PEFT_SRC", "/tmp/peft-src/src"), help="folder holding the peft package")
    parser.add_argument("--peft-commit", default=os.environ.get("PEFT_COMMIT"), help="the PEFT commit the source was exported from")
    parser.add_argument("--weights", default=None, help="optional model.safetensors (BertModel names)")
    parser.add_argument("--csv", default="peft_bert_step.csv")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), as Lily.Benchmarks' --cpu-time: with one torch thread "
                             "every operation, backward included, runs on this thread, so time spent waiting for a core on a loaded machine is not counted")
    parser.add_argument("--tiny", action="store_true", help="2 layers, hidden 64: a smoke run")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    peft, LoraConfig, inject, LoraLayer, placeholders = import_peft(args.peft_src)

    config = Config(hidden=64, layers=2, heads=4, ffn=256) if args.tiny else Config()
    torch.manual_seed(1)
    ids = torch.randint(1, config.vocab, (args.batch, args.tokens))
    mask = torch.ones(args.batch, args.tokens, dtype=torch.long)
    mask[: args.batch // 2, args.tokens * 3 // 4:] = 0  # half the rows padded: the mask is exercised
    labels = torch.randint(0, 2, (args.batch,))
    batch = (ids, mask, labels)

    targets = {"qv": ["query", "value"], "all": ["query", "key", "value", "dense"]}
    frozen = build(config, args.weights)
    for p in frozen.parameters():
        p.requires_grad_(False)
    full = build(config, args.weights)
    cases = [Case("frozen", frozen, batch), Case("full fine-tuning", full, batch)]
    for key, modules in targets.items():
        model = lora_model(config, args.weights, LoraConfig, inject, LoraLayer, modules, merged=False)
        merged = lora_model(config, args.weights, LoraConfig, inject, LoraLayer, modules, merged=True)
        cases.append(Case(f"PEFT LoRA r8 {key} ({','.join(modules)})", model, batch, merged))

    # The timed operations, interleaved per round: (label, case, callable).
    ops = [("frozen forward", cases[0], cases[0].infer), ("full step", cases[1], cases[1].step)]
    for c in cases[2:]:
        ops += [(f"{c.name} step", c, c.step), (f"{c.name} infer unmerged", c, c.infer), (f"{c.name} infer merged", c, c.infer_merged)]

    clock = time.thread_time if args.cpu_time else time.perf_counter
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time needs --threads 1: other threads' work would not be counted")
    times = {label: [] for label, _, _ in ops}
    load_before = os.getloadavg()
    for r in range(args.warmup + args.rounds):
        for label, _, run in ops:
            start = clock()
            run()
            elapsed = (clock() - start) * 1e3
            if r >= args.warmup:
                times[label].append(elapsed)
        print(f"round {r + 1}/{args.warmup + args.rounds} done (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    load_after = os.getloadavg()

    def med(label):
        return statistics.median(times[label])

    def ratio(label, reference="frozen forward"):
        return statistics.median(a / b for a, b in zip(times[label], times[reference]))

    print(f"# PyTorch + Hugging Face PEFT, BERT {config.layers} layers, hidden {config.hidden}, {config.heads} heads, FFN {config.ffn}, vocab {config.vocab}; "
          f"batch {args.batch} x {args.tokens} tokens; {args.rounds} interleaved rounds after {args.warmup} warm-up; "
          f"{'thread CPU time' if args.cpu_time else 'wall time'}")
    print(f"- torch {torch.__version__}, threads {torch.get_num_threads()}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, python {platform.python_version()}")
    print(f"- torch BLAS config: {blas_line()}")
    print(f"- BLAS mapped: {loaded_blas()}")
    print(f"- peft {peft.__version__} from {args.peft_src}, commit {peft_commit(args.peft_src, args.peft_commit)}; placeholders for: {', '.join(placeholders) or 'none'}")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs; load average before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")
    print(f"- weights: {args.weights or 'random'}")
    print()
    print("| Operation | Trainable | Median ms | ÷ frozen forward (per-round median) | min–max ms |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for label, case, _ in ops:
        trainable = case.trainable_count() if "step" in label else 0
        values = times[label]
        rows.append((label, trainable, med(label), ratio(label), min(values), max(values)))
        print(f"| {label} | {trainable:,} | {med(label):.1f} | {ratio(label):.3f} | {min(values):.1f}–{max(values):.1f} |")
    print()
    for c in cases[2:]:
        print(f"- {c.name}: step ÷ full step {ratio(c.name + ' step', 'full step'):.3f}")
    with open(args.csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["operation", "trainable", "median_ms", "ratio_to_frozen_forward", "min_ms", "max_ms", "rounds", "threads", "batch", "tokens", "torch", "load1_before", "load1_after"])
        for row in rows:
            writer.writerow([row[0], row[1], f"{row[2]:.3f}", f"{row[3]:.4f}", f"{row[4]:.3f}", f"{row[5]:.3f}", args.rounds, args.threads, args.batch, args.tokens, torch.__version__, f"{load_before[0]:.2f}", f"{load_after[0]:.2f}"])
    print(f"\nCSV: {args.csv}")


if __name__ == "__main__":
    main()
