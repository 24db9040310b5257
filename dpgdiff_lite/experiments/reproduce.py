"""``python -m dpgdiff_lite reproduce``: regenerate a committed results folder and say what moved.

``--list`` names every folder of :data:`~dpgdiff_lite.experiments.registry.FOLDERS` with its commands
and its last recorded run time; ``reproduce NAME`` (or ``--all``) runs the folder's steps into a
scratch folder (``runs/reproduce/NAME/out``, run folders beside it in ``runs/reproduce/NAME/runs``,
reused on a second call unless ``--fresh``); ``--check`` compares every regenerated CSV and JSON
with the committed one within :data:`REPRODUCTION_TOLERANCE` (metrics, p-values and every other
number; seconds are wall time and never compared) and prints each difference; ``--write`` replaces
the committed files and records the run time in ``notebooks/results/times.csv``. ``--set KEY=VALUE`` trains
every step with that config override (a kit option such as ``preference=fused``, or the flag of a
departure): ``--check`` then says how far the option moves the committed numbers; ``--write`` is refused,
since the committed folders hold the defaults. ``--readme``
rewrites the commands section of every results README from the registry.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from dpgdiff_lite.experiments.registry import FOLDERS, RESULTS, Folder, folder

REPRODUCTION_TOLERANCE = 0.05
"""How far a regenerated number may land from its committed value: in points of a ranking metric
(NDCG@10 ×100 and the like), and the same absolute bound on every other number of a results table
(p-values, gains, fractions). Far above what another CPU changes, far below what another seed
changes. Measured on the teaching data (docs/reproducibility.md): the precomputed rows of notebooks
06–08, written on a CPU with AVX-512, re-run here on AVX2, on torch's plain C++ kernels with MKL held to
SSE4.2 and numpy to its baseline, and with every initial weight nudged by one ulp, differ by at most
5e-7, except the step curve of ``diff`` at k ≥ 5 reverse steps: 0.013 (one or two test cases whose rank
moves among near-tied scores). The standard deviation over seeds of NDCG@10 is 0.11 to 0.50."""
WALL_TIME = ("seconds", "seconds_per_epoch", "train_seconds")
"""Columns and keys that hold wall time: never compared."""
TIMES = RESULTS / "times.csv"
"""The last recorded run time of each folder (written by ``--write``)."""
MARKER = "<!-- commands -->"
BEGIN = ("<!-- commands: generated from dpgdiff_lite/experiments/registry.py by "
         "`python -m dpgdiff_lite reproduce --readme`; edit the registry, not this block -->")
END = "<!-- /commands -->"


# --- comparing a regenerated folder with the committed one --------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One place where a regenerated file differs from the committed one: ``size`` is the largest
    absolute difference of a number (NaN for a structural difference, described in ``what``)."""

    file: str
    what: str
    size: float = math.nan

    def within(self, tolerance: float) -> bool:
        return not math.isnan(self.size) and self.size <= tolerance

    def __str__(self) -> str:
        size = "" if math.isnan(self.size) else f" (largest difference {self.size:.3g})"
        return f"{self.file}: {self.what}{size}"


def _is_wall_time(name: str) -> bool:
    return name in WALL_TIME or name.endswith("_seconds")


def compare_frames(name: str, committed: pd.DataFrame, regenerated: pd.DataFrame) -> list[Difference]:
    """Every difference of two tables: columns, rows, text cells exactly; numbers as the largest absolute
    difference per column (NaN equals NaN); wall-time columns skipped."""
    if list(committed.columns) != list(regenerated.columns):
        return [Difference(name, f"columns differ: committed {list(committed.columns)}, "
                                 f"regenerated {list(regenerated.columns)}")]
    if len(committed) != len(regenerated):
        return [Difference(name, f"{len(committed)} committed rows, {len(regenerated)} regenerated")]
    differences = []
    for column in committed.columns:
        if _is_wall_time(str(column)):
            continue
        a, b = committed[column], regenerated[column]
        numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
        if not numeric:
            if not a.astype(str).equals(b.astype(str)):
                row = int((a.astype(str) != b.astype(str)).to_numpy().argmax())
                differences.append(Difference(name, f"column {column!r} row {row}: committed {a.iloc[row]!r}, "
                                                    f"regenerated {b.iloc[row]!r}"))
            continue
        x, y = a.to_numpy(float), b.to_numpy(float)
        if (pd.isna(x) != pd.isna(y)).any():
            differences.append(Difference(name, f"column {column!r}: missing values in different rows"))
            continue
        gap = abs(x - y)[~pd.isna(x)]
        if len(gap) and gap.max() > 1e-6:
            differences.append(Difference(name, f"column {column!r}", float(gap.max())))
    return differences


def _json_numbers(value, prefix: str = ""):
    """Flatten a JSON value into (path, leaf) pairs, skipping wall-time keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_wall_time(key):
                yield from _json_numbers(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_numbers(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def compare_json(name: str, committed: dict, regenerated: dict) -> list[Difference]:
    """Every key whose value differs (numbers beyond 1e-6), wall time and the device aside."""
    a, b = dict(_json_numbers(committed)), dict(_json_numbers(regenerated))
    differences = []
    for key in sorted(set(a) | set(b)):
        if key == "device":
            continue
        x, y = a.get(key, "<missing>"), b.get(key, "<missing>")
        both_numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        if both_numbers and abs(x - y) > 1e-6:
            differences.append(Difference(name, f"{key}", float(abs(x - y))))
        elif not both_numbers and x != y:
            differences.append(Difference(name, f"{key}: committed {x!r}, regenerated {y!r}"))
    return differences


def committed_files(root: Path) -> list[Path]:
    """The tables of a results folder (CSV and JSON, sub-folders included), relative to it."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.suffix in (".csv", ".json") and p.is_file())


def compare_folders(committed: Path, regenerated: Path) -> list[Difference]:
    """Every difference between a committed results folder and a regenerated one."""
    ours, theirs = set(committed_files(committed)), set(committed_files(regenerated))
    differences = [Difference(str(p), "committed but not regenerated") for p in sorted(ours - theirs)]
    differences += [Difference(str(p), "regenerated but not committed") for p in sorted(theirs - ours)]
    for path in sorted(ours & theirs):
        if path.suffix == ".json":
            differences += compare_json(str(path), json.loads((committed / path).read_text()),
                                        json.loads((regenerated / path).read_text()))
        else:
            differences += compare_frames(str(path), pd.read_csv(committed / path), pd.read_csv(regenerated / path))
    return differences


# --- running a folder's steps ------------------------------------------------------------------------------
def scratch_paths(name: str, scratch: Path) -> tuple[Path, Path]:
    """(tables, run folders) of folder ``name`` under ``scratch``."""
    return scratch / name / "out", scratch / name / "runs"


def regenerate(entry: Folder, scratch: Path, fresh: bool = False, quiet: bool = False,
               overrides: Sequence[str] = ()) -> tuple[Path, float]:
    """Run ``entry``'s steps into ``scratch/<name>/out`` (emptied first; run folders reused unless
    ``fresh``), each training step with ``overrides`` (``KEY=VALUE``) added, into
    ``scratch/<name>[KEY=VALUE,…]/``; returns the folder and the wall-clock seconds."""
    from dpgdiff_lite.cli import main, parser

    subparsers = _subparsers(parser())
    quiet_ok = {name for name, sub in subparsers.items() if "--quiet" in sub._option_string_actions}
    set_ok = {name for name, sub in subparsers.items() if "--set" in sub._option_string_actions}
    if entry.needs and not Path(entry.needs).exists():
        raise FileNotFoundError(f"results folder {entry.name!r} needs {entry.needs}, which is not there "
                                "(run from the repository root, with the data beside it)")
    out, runs = scratch_paths(entry.name + (f"[{','.join(overrides)}]" if overrides else ""), scratch)
    shutil.rmtree(out, ignore_errors=True)
    if fresh:
        shutil.rmtree(runs, ignore_errors=True)
    started = time.perf_counter()
    for argv in entry.argv(str(out), str(runs)):
        extra = [arg for o in overrides for arg in ("--set", o)] if argv[0] in set_ok else []
        print("$ python -m dpgdiff_lite " + " ".join([*argv, *extra]), flush=True)
        code = main([*argv, *extra, *(["--quiet"] if quiet and argv[0] in quiet_ok else [])])
        if code:
            raise ValueError(f"step `{argv[0]}` of results folder {entry.name!r} exited with code {code}")
    return out, time.perf_counter() - started


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``python -m dpgdiff_lite`` by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def write(entry: Folder, out: Path, seconds: float) -> None:
    """Replace the committed tables of ``entry`` by the regenerated ones in ``out`` and record the time."""
    target = RESULTS / entry.name
    for path in committed_files(target):
        (target / path).unlink()
    for path in committed_files(out):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / path, target / path)
    record_time(entry.name, seconds)


def record_time(name: str, seconds: float) -> None:
    """Set folder ``name``'s row of :data:`TIMES` (seconds, date, cores, machine)."""
    times = read_times()
    times = times[times["folder"] != name]
    row = {"folder": name, "seconds": round(seconds), "date": date.today().isoformat(), "cpu_cores": os.cpu_count(),
           "machine": platform.machine()}
    pd.concat([times, pd.DataFrame([row])], ignore_index=True).to_csv(TIMES, index=False)


def read_times() -> pd.DataFrame:
    """:data:`TIMES`, or an empty table with its columns."""
    if TIMES.exists():
        return pd.read_csv(TIMES)
    return pd.DataFrame(columns=["folder", "seconds", "date", "cpu_cores", "machine"])


# --- the READMEs -------------------------------------------------------------------------------------------
def readme_block(entry: Folder) -> str:
    """The commands section of ``entry``'s README, generated from the registry."""
    steps = "\n".join(entry.commands())
    return (f"{BEGIN}\nOne command regenerates this folder (run folders in `runs/reproduce/{entry.name}/runs/`, "
            f"tables in `runs/reproduce/{entry.name}/out/`); `--check` compares them with the committed files "
            f"within {REPRODUCTION_TOLERANCE:g} (wall time aside), `--write` replaces the committed files:\n\n"
            f"```bash\npython -m dpgdiff_lite reproduce {entry.name} --check\n"
            f"python -m dpgdiff_lite reproduce {entry.name} --write\n```\n\n"
            f"It runs, from the repository root{' (with ' + entry.needs + ' beside it)' if entry.needs else ''}:\n\n"
            f"```bash\n{steps}\n```\n{END}")


def updated_readme(text: str, entry: Folder) -> str:
    """``text`` with its commands section (the :data:`MARKER` line or an earlier generated block) regenerated."""
    if BEGIN in text and END in text:
        start, stop = text.index(BEGIN), text.index(END) + len(END)
        return text[:start] + readme_block(entry) + text[stop:]
    if MARKER in text:
        return text.replace(MARKER, readme_block(entry), 1)
    raise ValueError(f"notebooks/results/{entry.name}/README.md has no {MARKER} line for its commands")


# --- the command line --------------------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m dpgdiff_lite reproduce``."""
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"results folders: {', '.join(FOLDERS)}")
    parser.add_argument("--all", action="store_true", help="every folder (those whose data is missing are skipped)")
    parser.add_argument("--list", action="store_true", help="name every folder, its commands and last run time")
    parser.add_argument("--check", action="store_true", help="compare the regenerated files with the committed ones")
    parser.add_argument("--write", action="store_true", help="replace the committed files by the regenerated ones")
    parser.add_argument("--readme", action="store_true", help="regenerate the commands section of every results README")
    parser.add_argument("--scratch", default="runs/reproduce", help="where regenerated folders and run folders go")
    parser.add_argument("--fresh", action="store_true", help="retrain the scratch run folders instead of reusing them")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="train every step with this config override (e.g. preference=fused, a kit option); "
                             "with --check, how far it moves the committed numbers; not with --write")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def listing() -> str:
    """Every registered folder with its commands and last recorded run time."""
    times = read_times().set_index("folder")
    blocks = []
    for name, entry in FOLDERS.items():
        recorded = (f"{int(times.loc[name, 'seconds'])} s on {times.loc[name, 'date']} "
                    f"({int(times.loc[name, 'cpu_cores'])} cores)" if name in times.index else "not recorded")
        needs = f"; needs {entry.needs}" if entry.needs else ""
        blocks.append(f"{name}  [{entry.notebooks}; last run {recorded}{needs}]\n"
                      + "\n".join(f"  {line}" for line in entry.commands()))
    return "\n".join(blocks)


def command(args: argparse.Namespace) -> pd.DataFrame | None:
    if args.list:
        print(listing())
        return read_times()
    if args.readme:
        for entry in FOLDERS.values():
            path = RESULTS / entry.name / "README.md"
            path.write_text(updated_readme(path.read_text(), entry))
            print(f"wrote the commands of {path.relative_to(RESULTS.parent.parent)}")
        return None
    entries = list(FOLDERS.values()) if args.all else [folder(name) for name in args.names]
    if not entries:
        raise ValueError("name a results folder (or --all, --list, --readme); folders: " + ", ".join(FOLDERS))
    if args.set and args.write:
        raise ValueError("--set cannot be combined with --write: the committed folders hold the defaults; "
                         "use --check to measure what the override moves")
    failed = []
    for entry in entries:
        if args.all and entry.needs and not Path(entry.needs).exists():
            print(f"skipped {entry.name}: needs {entry.needs}")
            continue
        out, seconds = regenerate(entry, Path(args.scratch), fresh=args.fresh, quiet=args.quiet, overrides=args.set)
        print(f"regenerated {entry.name} into {out} in {seconds:.0f} s")
        if args.check:
            differences = compare_folders(RESULTS / entry.name, out)
            if args.set:  # the settings files record the override itself: expected, not a difference
                differences = [d for d in differences if not d.what.startswith("overrides")]
            for difference in differences:
                mark = "ok " if difference.within(REPRODUCTION_TOLERANCE) else "✗  "
                print(f"  {mark}{difference}")
            bad = [d for d in differences if not d.within(REPRODUCTION_TOLERANCE)]
            print(f"{entry.name}: {'reproduced' if not bad else f'{len(bad)} difference(s) beyond tolerance'}"
                  f" ({len(differences) - len(bad)} within {REPRODUCTION_TOLERANCE:g})")
            if bad:
                failed.append(entry.name)
        if args.write:
            write(entry, out, seconds)
            print(f"wrote notebooks/results/{entry.name}/")
    if failed:
        raise ValueError(f"not reproduced within {REPRODUCTION_TOLERANCE:g}: {', '.join(failed)}")
    return None
