"""The CUDA path checked without a GPU: every model's loss terms and scores on fake ``cuda:0`` tensors.

Under ``FakeTensorMode`` a tensor has a device, a dtype and a shape but no data, so a CPU-only build
runs a forward pass "on cuda:0" and raises where a GPU would: "Expected all tensors to be on the same
device, but found at least two devices, cuda:0 and cpu!". Three gaps of torch 2.13's CPU build are
bridged here, each as narrowly as it allows:

- a fake tensor cannot say what it holds (``int(t.min())``, ``nonzero``, ``.numpy()``), so each
  forward pass first runs on real CPU tensors, recording every value read back from them, and the
  fake run replays those values in order (a read out of step is an error);
- the C++ bindings of indexing, ``~`` and ``int(t)`` take a CUDA device guard, which the build lacks,
  so for those calls alone the fake tensors pose as CPU ones after the device rule is checked here;
- there is no CUDA ``torch.Generator``: a CPU generator stands in and reports the device it was made
  for, and a generator of another device than the tensor it draws is refused, as on a GPU.

Every model the CLI accepts (``config.MODELS``) is built as the CLI builds it, moved to ``cuda:0``
as ``setup_training`` moves it, and given its batches on its ``device`` as ``evaluate`` gives them:
its loss terms, then its scores for every domain, on test histories and on noisy ones (RQ3's
test-time noise), with 1 and 4 reverse steps for the diffusion models.

Autograd on a fake CUDA tensor aborts a CPU-only build (a C++ error in a ``noexcept`` function), so
only forward passes without gradients run, in a subprocess (this file is its script) so that an
abort cannot take pytest down. Not checked: kernels, memory, bf16 autocast, numerics, backward.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch
from torch import Tensor
from torch._C import TensorBase
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dpgdiff_lite.config import MODELS, Config, preset
from dpgdiff_lite.data.synthetic import PRESETS

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.device("cuda", 0)  # with its index: Tensor.to("cuda") asks the absent CUDA runtime for one
BATCH = 6
STEPS = (1, 4)  # reverse steps k of the diffusion models' scores
NOISE_RATE = 0.5  # test-time noise of the noisy histories (RQ3, data.augment.inject_noise)
NO_CUDA_GUARD = "PyTorch is not linked with support for cuda devices"
DEVICE_MIX = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
GENERATOR_MIX = "Expected a 'cuda' device type for generator but found 'cpu'"
SASREC = ("sasrec", "sasrec-single")  # the trainable models without diffusion


# --- the subprocess -------------------------------------------------------------------------------
class DeviceGenerator(torch.Generator):
    """A CPU generator reporting the device it was made for: a CPU-only build has no CUDA generator."""

    def __new__(cls, device: torch.device | str = "cpu") -> "DeviceGenerator":
        generator = super().__new__(cls)
        generator.claimed = torch.device(device)
        return generator

    def __init__(self, device: torch.device | str = "cpu") -> None:
        super().__init__()

    @property
    def device(self) -> torch.device:
        return self.claimed


class Tape:
    """The values a forward pass reads back from its tensors: recorded on the CPU, replayed on fakes."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, object]] = []
        self.position = 0
        self.replaying = False

    def replay(self, what: str) -> object:
        recorded, value = self.entries[self.position] if self.position < len(self.entries) else ("nothing", None)
        if recorded != what:
            raise RuntimeError(f"the fake run read {what} where the CPU run read {recorded}")
        self.position += 1
        return value


class ReadsOnDispatch(TorchDispatchMode):
    """Scalars read from tensors (``int``, ``bool``, ``.item()``) and the data-dependent shape of ``nonzero``."""

    def __init__(self, tape: Tape) -> None:
        super().__init__()
        self.tape = tape

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        scalar = func is torch.ops.aten._local_scalar_dense.default
        if not scalar and func is not torch.ops.aten.nonzero.default:
            return func(*args, **kwargs)
        what = f"{func} of shape {tuple(args[0].shape)}"
        if self.tape.replaying:
            value = self.tape.replay(what)
            return value if scalar else torch.empty(value, dtype=torch.long, device=args[0].device)
        out = func(*args, **kwargs)
        self.tape.entries.append((what, out if scalar else tuple(out.shape)))
        return out


def is_fake_cuda(tensor: object) -> bool:
    return isinstance(tensor, FakeTensor) and tensor.fake_device.type == "cuda"


def without_device_guard(func, args: tuple, kwargs: dict):
    """Call a tensor method whose C++ binding takes a CUDA device guard (indexing, ``~``, ``int(t)``):
    the fake CUDA tensors pose as CPU ones for the call, the result gets the device of ``args[0]``.

    The device rule is checked first: other tensors must be on that device (0-dim ones excepted), as on
    a GPU, but for index tensors and for a value assigned through a plain slice (``copy_``).
    """
    device = args[0].device
    checked = tree_leaves((args[1:], kwargs))
    if func in (TensorBase.__getitem__, TensorBase.__setitem__):
        advanced = isinstance(args[1], list) or any(isinstance(leaf, Tensor) for leaf in tree_leaves(args[1]))
        checked = list(args[2:]) if advanced else []
    for leaf in checked:
        if isinstance(leaf, Tensor) and leaf.dim() and leaf.device != device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{device} and {leaf.device}!")
    fakes = {leaf: leaf.fake_device for leaf in tree_leaves((args, kwargs)) if is_fake_cuda(leaf)}
    for fake in fakes:
        fake.fake_device = torch.device("cpu")
    try:
        out = func(*args, **kwargs)
    finally:
        for fake, original in fakes.items():
            fake.fake_device = original
    for leaf in tree_leaves(out):
        if isinstance(leaf, FakeTensor):
            leaf.fake_device = device
    return out


class ReadsOnFunction(TorchFunctionMode):
    """``Tensor.numpy`` (the host-side augmentations of eq. 13), methods that take a device guard, and
    the device of a ``generator=`` argument."""

    def __init__(self, tape: Tape) -> None:
        super().__init__()
        self.tape = tape

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is Tensor.numpy:
            what = f"numpy of shape {tuple(args[0].shape)}"
            if self.tape.replaying:
                return self.tape.replay(what).copy()
            out = func(*args, **kwargs)
            self.tape.entries.append((what, out.copy()))
            return out
        try:
            out = func(*args, **kwargs)
        except RuntimeError as error:
            if NO_CUDA_GUARD not in str(error) or not args or not is_fake_cuda(args[0]):
                raise
            out = without_device_guard(func, args, kwargs)
        generator = kwargs.get("generator")
        if generator is not None and isinstance(out, Tensor) and generator.device.type != out.device.type:
            raise RuntimeError(f"Expected a '{out.device.type}' device type for generator but found "
                               f"'{generator.device.type}'")
        return out


def forward_passes(scorer, n_items: tuple[int, ...]) -> dict[str, Callable[[dict], dict[str, Tensor]]]:
    """Each forward pass of one scorer by name: a function of the batches returning named outputs."""
    from dpgdiff_lite.anchored import AnchoredDPGDiff
    from dpgdiff_lite.model import DPGDiff
    from dpgdiff_lite.recommender import Recommender

    passes = {}
    if isinstance(scorer, Recommender):
        def losses(batches: dict) -> dict[str, Tensor]:
            with torch.no_grad():  # autograd on a fake CUDA tensor aborts a CPU-only build
                generator = torch.Generator(device=scorer.device).manual_seed(0)  # as setup_training makes it
                return scorer.loss_terms(batches["train"], generator=generator, rng=np.random.default_rng(0))
        passes["loss"] = losses
    for split in ("test", "noisy"):
        for domain in range(len(n_items)):
            for k in STEPS if isinstance(scorer, (DPGDiff, AnchoredDPGDiff)) else (None,):
                passes[f"score:{split}:{domain}:k={k}"] = (
                    lambda batches, s=split, d=domain, k=k: {"": scorer.score(batches[s], d, steps=k)})
    return passes


def to_cuda(model: torch.nn.Module) -> None:
    """``model.to(CUDA)``, as ``setup_training`` does on a GPU, visiting each module once: the item
    tables are shared by two submodules, and a second visit to a fake parameter cannot swap it."""
    for module in model.modules():
        module._apply(lambda tensor: tensor.to(CUDA), recurse=False)


def drop_device(module_name: str, factory: str) -> None:
    """Inject the bug the tests look for: ``torch.<factory>`` called in that module forgets ``device=``."""
    module = importlib.import_module(module_name)
    real = getattr(torch, factory)
    namespace = SimpleNamespace(**vars(torch))
    setattr(namespace, factory, lambda *args, device=None, **kwargs: real(*args, **kwargs))
    module.torch = namespace


def report(models: list[str], bug: str | None = None) -> int:
    """Print one JSON line per (model, pass, output) of the fake CUDA run; 1 if any pass failed."""
    from dpgdiff_lite.data.augment import inject_noise_split
    from dpgdiff_lite.data.dataset import EvalSplit, make_batch, pad_eval, pad_training
    from dpgdiff_lite.data.synthetic import generate
    from dpgdiff_lite.trainer import build_model

    torch.set_num_threads(1)
    torch.Generator = DeviceGenerator
    if bug is not None:
        drop_device(*bug.split(":"))
    dataset, truth = generate("tiny")
    test = EvalSplit(dataset.test.histories[:BATCH], dataset.test.targets[:BATCH], dataset.test.users[:BATCH])
    noisy = EvalSplit(inject_noise_split(test.histories, NOISE_RATE, dataset.offsets, seed=0), test.targets, test.users)
    train = [array[:BATCH] for array in pad_training(dataset.train, dataset.max_len)]
    batches = {"train": make_batch(*train, dataset.offsets),
               "test": make_batch(*pad_eval(test, dataset.max_len), dataset.offsets, test.users),
               "noisy": make_batch(*pad_eval(noisy, dataset.max_len), dataset.offsets, noisy.users)}
    failed = False
    for name in models:
        torch.manual_seed(0)
        config = preset("smoke", model=name, dim=16, max_len=dataset.max_len)  # as the CLI builds it
        scorer = build_model(dataset, config, truth)
        passes = forward_passes(scorer, dataset.n_items)
        tapes, finite = {}, {}
        for label, run in passes.items():  # first on the CPU, recording what each pass reads back
            tapes[label] = Tape()
            with ReadsOnDispatch(tapes[label]), ReadsOnFunction(tapes[label]):
                outputs = run(batches)
            finite[label] = {term: bool(torch.isfinite(out).all()) for term, out in outputs.items()}
        with FakeTensorMode(allow_non_fake_inputs=True):
            if config.trainable:
                to_cuda(scorer)
            on_device = {split: batch.to(scorer.device) for split, batch in batches.items()}  # as evaluate does
            for label, run in passes.items():
                tapes[label].replaying = True
                try:
                    with ReadsOnDispatch(tapes[label]), ReadsOnFunction(tapes[label]):
                        outputs = run(on_device)
                    tapes[label].replay("nothing")  # the fake run read every value the CPU run read
                except Exception as error:  # reported; the next pass runs
                    failed = True
                    print(json.dumps({"model": name, "pass": label, "error": f"{type(error).__name__}: {error}"}))
                    continue
                for term, out in outputs.items():
                    print(json.dumps({"model": name, "pass": label, "term": term, "device": str(out.device),
                                      "shape": list(out.shape), "finite": finite[label][term]}))
    return int(failed)


# --- the tests ------------------------------------------------------------------------------------
def fake_cuda_run(*args: str) -> tuple[int, list[dict], str]:
    """This file's :func:`report` in a subprocess: (exit code, its JSON lines, the end of its stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, lines, done.stderr[-3000:]


def loss_terms(config: Config) -> set[str]:
    """The terms of eq. (14) a model trains on: none for the untrained scorers, L_rec alone for SASRec."""
    if not config.trainable:
        return set()
    if config.model in SASREC:
        return {"rec"}
    if config.model == "dpgdiff-anchored":  # DPG-Diff's terms and its two SASRec paths' cross-entropies
        return {"diff", "rec", "cl", "single", "mixed"}
    return {"diff", "rec", "cl"} if config.variant_flags[2] else {"diff", "rec"}


def expected_outputs(name: str) -> dict[tuple[str, str], tuple[str, list[int]]]:
    """(pass, term) → (device, shape) of every output of one model's fake run."""
    config = preset("smoke", model=name)
    # popularity and the oracle declare device cpu: evaluate hands them batches on the host
    device = str(CUDA) if config.trainable else "cpu"
    expected = {("loss", term): (device, []) for term in loss_terms(config)}
    for split in ("test", "noisy"):
        for domain, n in enumerate(PRESETS["tiny"].n_items):
            for k in STEPS if config.trainable and name not in SASREC else (None,):
                expected[f"score:{split}:{domain}:k={k}", ""] = (device, [BATCH, n])
    return expected


@pytest.mark.slow
def test_every_model_runs_its_loss_terms_and_scores_on_cuda_tensors():
    code, lines, stderr = fake_cuda_run()
    assert code == 0, (lines, stderr)
    assert sorted({line["model"] for line in lines}) == sorted(MODELS)
    for name in MODELS:
        got = {(line["pass"], line["term"]): (line["device"], line["shape"]) for line in lines if line["model"] == name}
        assert got == expected_outputs(name), name
    assert all(line["finite"] for line in lines)


def test_a_tensor_made_without_the_batch_device_is_reported():
    # timestep_embedding's frequencies: torch.arange(half) on the CPU, met by the CUDA steps t
    code, lines, stderr = fake_cuda_run("--models", "dpgdiff,sasrec", "--drop-device", "dpgdiff_lite.denoiser:arange")
    assert code == 1, stderr
    errors = {line["pass"]: line["error"] for line in lines if "error" in line}
    assert set(errors) == {p for p, _ in expected_outputs("dpgdiff")}  # the loss and every score
    assert all(error.endswith(DEVICE_MIX) for error in errors.values())
    assert all(line["model"] == "dpgdiff" for line in lines if "error" in line)
    assert {line["device"] for line in lines if line["model"] == "sasrec"} == {str(CUDA)}


def test_a_generator_made_without_the_batch_device_is_reported():
    # item_scores' torch.Generator on the CPU, drawing x_T for the CUDA batch (eq. 15)
    code, lines, stderr = fake_cuda_run("--models", "dpgdiff", "--drop-device", "dpgdiff_lite.model:Generator")
    assert code == 1, stderr
    errors = {line["pass"]: line["error"] for line in lines if "error" in line}
    assert set(errors) == {p for p, _ in expected_outputs("dpgdiff") if p != "loss"}  # the trainer's generator is right
    assert all(error == f"RuntimeError: {GENERATOR_MIX}" for error in errors.values())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fake-CUDA forward passes of the models (see the docstring).")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--drop-device", metavar="MODULE:FACTORY", help="inject a bug: torch.FACTORY loses device=")
    options = parser.parse_args()
    sys.exit(report(options.models.split(","), options.drop_device))
