"""A run folder on disk: atomic writes, the checkpoint format, and the checks made before training.

Every file of the run record (``config.json``, ``metrics.json``, ``history.csv``, ``model.pt``) and
the resume state ``checkpoint.pt`` is written to a temporary file in the same folder, flushed,
fsync-ed and renamed over the old one, so a crash leaves the old file or the new one, never half
of one. Anything that cannot be used as asked — a folder that cannot be written, a folder holding
a run with another configuration, a truncated or foreign checkpoint — is a :class:`RunFolderError`
whose message names the file and says what to do, never a torch traceback.

Test hook: with the environment variable ``DPGDIFF_KILL_IN_WRITE=NAME:N`` the N-th atomic write of a
file called NAME in this process stops itself with SIGKILL halfway through writing the temporary
file (the crash test of ``tests/test_run_folder.py`` uses it to crash inside a checkpoint write).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
from collections import Counter
from pathlib import Path

import pandas as pd
import torch

from dpgdiff_lite.config import Config

CHECKPOINT_FORMAT = 1
"""Version of the ``checkpoint.pt`` layout; a checkpoint of another version is refused, not guessed at."""
RUN_FILES = ("config.json", "metrics.json", "history.csv", "model.pt", "checkpoint.pt")
_writes: Counter = Counter()  # atomic writes per file name, for the test hook


class RunFolderError(ValueError):
    """A run folder (or one of its files) that cannot be used as asked; the message says what to do."""


# --- atomic writes ------------------------------------------------------------------------------
def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, flush, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    kill = _kill_point(path.name)
    with open(tmp, "wb") as handle:
        if kill:
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _kill_point(name: str) -> bool:
    spec = os.environ.get("DPGDIFF_KILL_IN_WRITE", "")
    target, _, count = spec.partition(":")
    if target != name:
        return False
    _writes[name] += 1
    return _writes[name] == int(count or 1)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=2))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False))


def save_torch(path: Path, value) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    write_bytes(path, buffer.getvalue())


# --- reading, with errors for people -----------------------------------------------------------------
def load_torch(path: Path, remedy: str):
    """``torch.load`` (weights only) of ``path``, or a :class:`RunFolderError` naming it and ``remedy``."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # a truncated zip, a pickle of something else, garbage bytes …
        reason = str(error).strip().split("\n")[0] or type(error).__name__
        raise RunFolderError(f"{path} cannot be read ({reason}): it is truncated or was not written by "
                             f"dpgdiff_lite. {remedy}") from None


def read_json(path: Path) -> dict:
    """The JSON object in ``path``, or a :class:`RunFolderError` naming the file."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path} cannot be read as JSON ({error}); is it a run folder written by `train`?") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path} holds {type(value).__name__}, not the JSON object `train` writes")
    return value


def read_config(path: Path) -> Config:
    """The :class:`Config` of a run folder's ``config.json``, or an error naming the file."""
    try:
        return Config.from_dict(read_json(path))
    except RunFolderError:
        raise
    except (ValueError, TypeError) as error:
        raise RunFolderError(f"{path}: {error}") from None


def _same_config(recorded, config: Config) -> bool:
    """True when the config dict a checkpoint recorded reads as ``config`` (fields added since take their
    defaults, as in ``config.json``)."""
    try:
        return isinstance(recorded, dict) and Config.from_dict(recorded) == config
    except (TypeError, ValueError):  # a field this version no longer has, or a value it refuses
        return False


def load_checkpoint(path: Path, config: Config) -> dict:
    """The resume state in ``path``, checked to be a checkpoint of this format and of ``config``."""
    remedy = "Delete it to train from the first epoch, or run again with --fresh to start over."
    saved = load_torch(path, remedy)
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        found = saved.get("format", "none") if isinstance(saved, dict) else type(saved).__name__
        raise RunFolderError(f"{path} is not a dpgdiff_lite checkpoint of format {CHECKPOINT_FORMAT} "
                             f"(found format {found}). {remedy}")
    if not _same_config(saved.get("config"), config):
        raise RunFolderError(f"{path} belongs to another configuration than config.json beside it. {remedy}")
    return saved


def load_weights(path: Path, model: torch.nn.Module, run_dir: Path) -> None:
    """Load ``model.pt`` into ``model``, or an error naming the file and how to rebuild it."""
    remedy = f"Retrain the run: `python -m dpgdiff_lite train … --out {run_dir} --fresh`."
    if not Path(path).exists():
        raise RunFolderError(f"{path} not found: the run in {run_dir} did not finish. {remedy}")
    state = load_torch(path, remedy)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        reason = str(error).strip().split("\n")[-1].strip()
        raise RunFolderError(f"{path} does not fit the model of config.json ({reason}). {remedy}") from None


# --- before training ------------------------------------------------------------------------------
def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written in it, or a :class:`RunFolderError` naming it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create the run folder {folder}: {error.strerror or error}; "
                             f"choose another --out") from None
    probe = folder / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunFolderError(f"the run folder {folder} is not writable: {error.strerror or error}; "
                             f"choose another --out") from None


def differences(old: Config, new: Config) -> list[str]:
    """``field: old → new`` for every config field that differs."""
    before, after = dataclasses.asdict(old), dataclasses.asdict(new)
    return [f"{key}: {before[key]!r} → {after[key]!r}" for key in before if before[key] != after[key]]


def check_same_run(folder: Path, config: Config, data: str | None, recorded: str | None) -> None:
    """Refuse to resume a folder whose ``config.json`` (or recorded data spec) differs from the new one."""
    changes = differences(read_config(folder / "config.json"), config)
    if data is not None and recorded is not None and recorded != data:
        changes.append(f"data: {recorded!r} → {data!r}")
    if changes:
        raise RunFolderError(
            f"the run folder {folder} holds a run with other settings:\n  " + "\n  ".join(changes)
            + f"\nUse a new --out folder, or --fresh to start over in {folder} (its run is deleted)."
        )


def clear(folder: Path) -> None:
    """Delete the run record and checkpoint in ``folder`` (``--fresh``); other files stay."""
    for name in RUN_FILES:
        (Path(folder) / name).unlink(missing_ok=True)
    for extra in Path(folder).glob("eval-*.json"):
        extra.unlink()
