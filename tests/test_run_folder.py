"""run_folder.py and the trainer's use of it: a run folder survives crashes, corruption and the wrong command.

Every error case asserts the message the user reads and that no traceback reaches them; the crash
test kills a training subprocess with SIGKILL at seeded moments (inside a checkpoint write among
them), resumes it each time and checks the final metrics equal an uninterrupted run's exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dpgdiff_lite import run_folder
from dpgdiff_lite.cli import main
from dpgdiff_lite.config import preset
from dpgdiff_lite.trainer import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "synthetic:tiny", "--preset", "smoke", "--quiet"]


def cli(args: list[str], capsys) -> tuple[int, str]:
    """Run the command line in-process; (exit code, everything printed)."""
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def trained_run(tmp_path: Path, capsys, *extra: str) -> Path:
    run = tmp_path / "run"
    code, _ = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2", *extra], capsys)
    assert code == 0
    return run


# --- the wrong command ----------------------------------------------------------------------------
def test_other_settings_in_the_same_folder_are_refused_with_every_difference(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2",
                      "--set", "dim=16", "--set", "lr=0.03"], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: the run folder {run} holds a run with other settings:\n  dim: 32 → 16\n  lr: 0.01 → 0.03\n" in text
    assert "Use a new --out folder, or --fresh to start over" in text
    assert json.loads((run / "config.json").read_text())["dim"] == 32  # nothing was touched


def test_other_data_in_the_same_folder_is_refused(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    code, text = cli(["train", "--data", "synthetic:teaching", "--preset", "smoke", "--quiet", "--model", "sasrec",
                      "--out", str(run), "--set", "epochs=2"], capsys)
    assert code == 2 and "Traceback" not in text
    assert "  data: 'synthetic:tiny' → 'synthetic:teaching'\n" in text


def test_fresh_starts_over(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2",
                      "--set", "dim=16", "--fresh"], capsys)
    assert code == 0 and "Traceback" not in text
    assert json.loads((run / "config.json").read_text())["dim"] == 16
    assert torch.load(run / "checkpoint.pt", weights_only=True)["config"]["dim"] == 16


def test_the_same_command_resumes_a_finished_run_without_training(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    before = json.loads((run / "metrics.json").read_text())
    checkpoint_time = (run / "checkpoint.pt").stat().st_mtime_ns
    trained_run(tmp_path, capsys)
    assert json.loads((run / "metrics.json").read_text())["test"] == before["test"]
    assert (run / "checkpoint.pt").stat().st_mtime_ns == checkpoint_time  # no epoch was trained


# --- corrupt files --------------------------------------------------------------------------------
def test_truncated_checkpoint_is_named_with_the_way_out(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[:1000])
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2"], capsys)
    assert code == 2 and "Traceback" not in text and "PytorchStreamReader" not in text.split("(")[0]
    assert f"error: {run / 'checkpoint.pt'} cannot be read (" in text
    assert "it is truncated or was not written by dpgdiff_lite. Delete it to train from the first epoch, " \
           "or run again with --fresh to start over." in text


def test_foreign_checkpoint_is_refused(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    torch.save({"weights": torch.zeros(3)}, run / "checkpoint.pt")
    (run / "metrics.json").unlink()  # an unfinished run, so the checkpoint is what resumes it
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2"], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"{run / 'checkpoint.pt'} is not a dpgdiff_lite checkpoint of format 1 (found format none)." in text


def test_checkpoint_of_another_configuration_is_refused(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    other = tmp_path / "other"
    cli(["train", *TINY, "--model", "sasrec", "--out", str(other), "--set", "epochs=2", "--set", "dim=16"], capsys)
    (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    (run / "metrics.json").unlink()
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(run), "--set", "epochs=2"], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"{run / 'checkpoint.pt'} belongs to another configuration than config.json beside it." in text


def test_garbage_model_file_is_named_by_evaluate(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    (run / "model.pt").write_bytes(b"this is not a model" * 10)
    code, text = cli(["evaluate", "--run", str(run)], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: {run / 'model.pt'} cannot be read (" in text
    assert f"Retrain the run: `python -m dpgdiff_lite train … --out {run} --fresh`." in text


def test_model_file_of_another_configuration_is_named_by_evaluate(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    other = tmp_path / "other"
    cli(["train", *TINY, "--model", "sasrec", "--out", str(other), "--set", "epochs=2", "--set", "dim=16"], capsys)
    (run / "model.pt").write_bytes((other / "model.pt").read_bytes())
    code, text = cli(["evaluate", "--run", str(run)], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: {run / 'model.pt'} does not fit the model of config.json (" in text and "size mismatch" in text


def test_unreadable_metrics_file_is_named(tmp_path, capsys):
    run = trained_run(tmp_path, capsys)
    (run / "metrics.json").write_text('{"test": ')
    code, text = cli(["evaluate", "--run", str(run)], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: {run / 'metrics.json'} cannot be read as JSON (" in text


# --- folders that cannot be written -----------------------------------------------------------------
def test_a_run_folder_under_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    started = time.perf_counter()
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(tmp_path / "a-file" / "run")], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: cannot create the run folder {tmp_path / 'a-file' / 'run'}: Not a directory; choose another --out" in text
    assert time.perf_counter() - started < 10  # refused before any epoch


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write: chmod for a normal user; root ignores that, so /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    if Path("/sys").is_dir() and _cannot_write("/sys"):
        return Path("/sys")
    pytest.skip("no folder this root process cannot write")


def _cannot_write(folder: str) -> bool:
    try:
        Path(folder, ".dpgdiff-probe").write_bytes(b"")
    except OSError:
        return True
    Path(folder, ".dpgdiff-probe").unlink()
    return False


def test_a_read_only_run_folder_is_refused_before_training(tmp_path, capsys):
    folder = _read_only_folder(tmp_path)
    code, text = cli(["train", *TINY, "--model", "sasrec", "--out", str(folder)], capsys)
    assert code == 2 and "Traceback" not in text
    assert f"error: the run folder {folder} is not writable: " in text and "; choose another --out" in text


# --- atomic writes ------------------------------------------------------------------------------------
def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    run_folder.write_json(path, {"a": 1})
    run_folder.write_json(path, {"b": [2, 3]})
    assert json.loads(path.read_text()) == {"b": [2, 3]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_crash_inside_a_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    run_folder.save_torch(path, {"epoch": 1})
    script = (f"from dpgdiff_lite import run_folder\n"
              f"run_folder.save_torch({str(path)!r}, {{'epoch': 2, 'weights': list(range(100000))}})\n")
    env = {**os.environ, "DPGDIFF_KILL_IN_WRITE": "checkpoint.pt:1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT)
    assert done.returncode == -signal.SIGKILL
    assert torch.load(path, weights_only=True) == {"epoch": 1}  # the old checkpoint, whole
    assert 0 < (tmp_path / ".checkpoint.pt.tmp").stat().st_size  # the half-written temporary


# --- the crash test ------------------------------------------------------------------------------------
CRASH_RUN = ["-m", "dpgdiff_lite", "train", "--data", "synthetic:tiny", "--model", "dpgdiff", "--preset", "smoke",
             "--set", "epochs=12", "--set", "patience=20", "--quiet", "--out"]


def _start(out: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *CRASH_RUN, str(out)], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _kill_while_training(out: Path, delay: float) -> None:
    """Start the run; once it has checkpointed an epoch, SIGKILL it ``delay`` seconds later (mid-epoch)."""
    before = _mtime(out / "checkpoint.pt")
    process = _start(out)
    while _mtime(out / "checkpoint.pt") == before and process.poll() is None:
        time.sleep(0.005)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _assert_whole(out: Path) -> None:
    """After a crash every file of the run record is absent or complete."""
    for name in ("config.json", "metrics.json"):
        if (out / name).exists():
            json.loads((out / name).read_text())
    for name in ("checkpoint.pt", "model.pt"):
        if (out / name).exists():
            torch.load(out / name, weights_only=True)


def _without_seconds(history: Path) -> list[list[str]]:
    """history.csv's rows without the wall-clock ``seconds`` column (the second)."""
    return [row[:1] + row[2:] for row in (line.split(",") for line in history.read_text().splitlines())]


def test_sigkill_at_seeded_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _start(reference).wait() == 0
    out = tmp_path / "crashed"
    rng = np.random.default_rng(2026)
    moments = [("time", float(rng.uniform(0.0, 0.3))) for _ in range(4)]
    moments.insert(int(rng.integers(1, 4)), ("checkpoint.pt", int(rng.integers(1, 4))))  # inside a checkpoint write
    moments += [("model.pt", 1), ("metrics.json", 1)]
    for kind, when in moments:
        if kind == "time":
            _kill_while_training(out, when)
        else:  # the test hook of run_folder.write_bytes: SIGKILL halfway through that write
            process = _start(out, {"DPGDIFF_KILL_IN_WRITE": f"{kind}:{when}"})
            assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
        _assert_whole(out)
    finished = _start(out)
    assert finished.wait() == 0, finished.stderr.read().decode()[-2000:]
    got, want = (json.loads((d / "metrics.json").read_text()) for d in (out, reference))
    assert got["test"] == want["test"] and got["valid"] == want["valid"] and got["epochs_run"] == 12
    history, expected = (_without_seconds(d / "history.csv") for d in (out, reference))
    assert history == expected  # every epoch's losses and validation score, exactly


def test_library_callers_get_the_same_refusal(tmp_path, toy_dataset):
    config = preset("smoke", model="sasrec", device="cpu", epochs=1, eval_negatives=9, max_len=8)
    train(toy_dataset, config, tmp_path, progress=False)
    with pytest.raises(run_folder.RunFolderError, match=r"holds a run with other settings:\n  dim: 32 → 16\n"):
        train(toy_dataset, preset("smoke", model="sasrec", device="cpu", epochs=1, eval_negatives=9, max_len=8,
                                  dim=16), tmp_path, progress=False)
    fresh = train(toy_dataset, preset("smoke", model="sasrec", device="cpu", epochs=1, eval_negatives=9, max_len=8,
                                      dim=16), tmp_path, progress=False, resume=False)
    assert fresh.config.dim == 16
