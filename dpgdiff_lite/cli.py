"""Command line: ``python -m dpgdiff_lite SUBCOMMAND …`` (train, evaluate, compare, bench, course, site, and
one subcommand per experiment of :mod:`dpgdiff_lite.experiments`, listed in its ``COMMANDS``).

``train --data SPEC --model NAME --out DIR [--preset P] [--set key=value …]`` writes
``DIR/metrics.json`` (×100 metrics per domain letter X, Y, …), ``history.csv``, ``config.json``
and the checkpoint. SPEC is ``synthetic[:preset]``, ``c2dsr:PATH`` or ``amazon:X.csv,Y.csv[,Z.csv…]``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

import pandas as pd

from dpgdiff_lite import distributed, generated_docs, site
from dpgdiff_lite.experiments import COMMANDS as EXPERIMENT_COMMANDS
from dpgdiff_lite.config import MODELS, PRESETS, UNTRAINED, parse_models, parse_seeds, preset
from dpgdiff_lite.data.augment import inject_noise_split
from dpgdiff_lite.data.sources import load_data
from dpgdiff_lite.run_folder import read_json, write_json
from dpgdiff_lite.experiments.tables import format_seeds_table, oracle_fraction, seeds_table, table1
from dpgdiff_lite.trainer import load_run, metrics_record, run_evaluation, train


def command_train(args: argparse.Namespace) -> dict:
    source = load_data(args.data)
    config = preset(args.preset, model=args.model).with_overrides(args.set or [])
    metrics = train(source.dataset, config, Path(args.out), data=args.data, truth=source.truth,
                    progress=not args.quiet, resume=not args.fresh).metrics()
    if distributed.is_main():  # under torchrun rank 0 alone prints
        print(format_metrics(metrics, source.dataset.domain_names))
    return metrics


def command_evaluate(args: argparse.Namespace) -> dict:
    run = Path(args.run)
    if not (run / "metrics.json").exists():
        raise FileNotFoundError(f"{run / 'metrics.json'} not found: is {run} a run folder written by `train`?")
    trained = read_json(run / "metrics.json")
    source = load_data(trained["data"])
    model, config = load_run(run, source.dataset, truth=source.truth)
    if args.steps is not None and not 1 <= args.steps <= config.T:
        raise ValueError(f"--steps must be in 1..T={config.T}, got {args.steps}")
    steps = config.reverse_steps(args.steps)
    histories = None
    if args.test_noise:
        histories = inject_noise_split(source.dataset.test.histories, args.test_noise,
                                       source.dataset.offsets, seed=args.seed)
    test = run_evaluation(model, source.dataset, config, "test", histories=histories, steps=steps)
    metrics = metrics_record(config, test, data=trained["data"], test_noise=args.test_noise, steps=steps)
    out = Path(args.out) if args.out else run / f"eval-test-noise{args.test_noise}-steps{steps}.json"
    write_json(out, metrics)
    print(format_metrics(metrics, source.dataset.domain_names))
    return metrics


def command_compare(args: argparse.Namespace) -> pd.DataFrame:
    """Train several models on one dataset and print the paper's Table 1 layout."""
    models = parse_models(args.models, "--models")
    seeds = None if args.seeds is None else parse_seeds(args.seeds, "--seeds")
    source = load_data(args.data)
    configs = {name: preset(args.preset, model=name).with_overrides(args.set or []) for name in models}
    if seeds is not None:
        return _compare_seeds(args, source, configs, list(seeds))
    results = {name: train(source.dataset, config, Path(args.out) / name, data=args.data, truth=source.truth,
                           progress=not args.quiet, resume=not args.fresh) for name, config in configs.items()}
    table = table1(results)
    print(f"test metrics ×100 on {args.data} [{source.dataset.protocol}, {next(iter(results.values())).test.protocol} protocol]")
    print(table.round(2).to_string())
    print("seconds per epoch: " + ", ".join(f"{k} {r.seconds_per_epoch:.1f}" for k, r in results.items()))
    ratios = oracle_fraction(results, source)
    if ratios is not None:
        print("NDCG@10 as a fraction of the planted oracle's:")
        print(ratios.round(3).to_string())
    table.to_csv(Path(args.out) / "table1.csv")
    return table


def _compare_seeds(args: argparse.Namespace, source, configs: dict, seeds: list[int]) -> pd.DataFrame:
    """``compare --seeds``: every model with every seed into RUNS/<model>/seed<k>/ (``--runs``, default
    ``--out``), Table 1 as mean ± std, and every table of :func:`dpgdiff_lite.experiments.compare.seed_frames`
    with ``setting.json`` in ``--out``."""
    from dpgdiff_lite.experiments import compare

    first = next(iter(configs.values()))
    setting = compare.Setting(data=args.data, preset=args.preset, models=tuple(configs), protocol=first.eval_protocol,
                              overrides=tuple(args.set or []), device=first.device)
    results, _ = compare.precompute(setting, seeds, args.runs or args.out, args.out, resume=not args.fresh,
                                    strict=True, progress=not args.quiet, configs=configs, source=source)
    table = seeds_table(results)
    print(f"test metrics ×100 on {args.data} [{source.dataset.protocol}], mean ± std over seeds {seeds}; "
          f"p: paired t-test over (seed, case) pairs against the model named in 'vs'")
    print(format_seeds_table(table).to_string())
    return table


def command_bench(args: argparse.Namespace) -> dict | pd.DataFrame:
    from dpgdiff_lite.bench import benchmark, format_benchmark, profile_step, write_benchmark

    source = load_data(args.data)
    overrides = [*(args.set or []), *([f"device={args.device}"] if args.device else [])]
    config = preset(args.preset, model=args.model).with_overrides(overrides)
    if args.profile:
        frame = profile_step(source.dataset, config, steps=args.steps)
        print(frame.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
        frame.to_csv(args.out, index=False)
        return frame
    result = benchmark(source.dataset, config, steps=args.steps)
    result["data"], result["preset"] = args.data, args.preset
    print(format_benchmark(result))
    write_benchmark(result, args.out)
    return result


def format_metrics(metrics: dict, domain_names: tuple[str, ...]) -> str:
    """A small printable table of the test metrics of one run."""
    letters = list(metrics["test"])
    frame = pd.DataFrame({f"{letter} ({name})": metrics["test"][letter]
                          for letter, name in zip(letters, domain_names)})
    head = f"{metrics['model']} on {metrics.get('data', '?')} [{metrics['protocol']}, {metrics['eval_protocol']}] test ×100"
    return f"{head}\n{frame.round(2).to_string()}"


def _training_arguments(command: argparse.ArgumentParser, fresh: str) -> None:
    """The options ``train`` and ``compare`` share: data, preset, overrides, progress, --fresh."""
    command.add_argument("--data", default="synthetic",
                         help="synthetic[:preset] | c2dsr:PATH | amazon:X.csv,Y.csv[,Z.csv…]")
    command.add_argument("--preset", default="teaching", choices=list(PRESETS))
    command.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    command.add_argument("--quiet", action="store_true", help="no progress bars")
    command.add_argument("--fresh", action="store_true", help=fresh)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dpgdiff_lite", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or fit) one model and write a run folder")
    t.add_argument("--model", default="dpgdiff", choices=MODELS)
    t.add_argument("--out", required=True, help="run folder")
    _training_arguments(t, fresh="start over in --out, deleting the run it holds")
    t.set_defaults(handler=command_train)
    c = sub.add_parser("compare", help="train several models on one dataset and print Table 1")
    c.add_argument("--models", default="dpgdiff,sasrec,pop", help="comma-separated model names")
    c.add_argument("--seeds", default=None, help="comma-separated model seeds: Table 1 as mean ± std, paired tests")
    c.add_argument("--out", default="runs/compare",
                   help="folder for the tables (with --seeds: every CSV of a results folder and setting.json)")
    c.add_argument("--runs", default=None, help="with --seeds: folder for the run folders (default: --out)")
    _training_arguments(c, fresh="start over in each model's folder under --out (--runs)")
    c.set_defaults(handler=command_compare)
    b = sub.add_parser("bench", help="measure training/scoring throughput, memory and FLOPs")
    b.add_argument("--data", default="synthetic:paper-scale")
    b.add_argument("--model", default="dpgdiff", choices=[m for m in MODELS if m not in UNTRAINED])
    b.add_argument("--preset", default="paper", choices=list(PRESETS))
    b.add_argument("--device", default=None, help="auto | cpu | cuda | mps")
    b.add_argument("--steps", type=int, default=20, help="timed training steps after the warm-up")
    b.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    b.add_argument("--profile", action="store_true",
                   help="instead: milliseconds per training step by part (bench.profile_step), written as CSV")
    b.add_argument("--out", required=True, help="JSON file (with --profile: CSV file)")
    b.set_defaults(handler=command_bench)
    from dpgdiff_lite import course

    r = course.configure_parser(sub.add_parser("course", help="execute the numbered notebooks headless with papermill"))
    r.set_defaults(handler=course.command_course)
    w = site.configure_parser(sub.add_parser("site", help="build the course website from the executed notebooks"))
    w.set_defaults(handler=site.command_site)
    generated_docs.configure_parser(sub.add_parser("docs", help="regenerate (or --check) the generated pages: "
                                                                "docs/architecture.png, docs/verdicts.md, the results "
                                                                "READMEs' commands")).set_defaults(handler=generated_docs.command)
    for name, (module, help_text) in EXPERIMENT_COMMANDS.items():
        experiment = importlib.import_module(f"dpgdiff_lite.experiments.{module}")
        experiment.configure_parser(sub.add_parser(name, help=help_text)).set_defaults(handler=experiment.command)
    e = sub.add_parser("evaluate", help="re-evaluate a run under test-time noise or another step count")
    e.add_argument("--run", required=True)
    e.add_argument("--test-noise", type=float, default=0.0,
                   help="rate of noise injected into the test histories (Figure 3's test-time noise)")
    e.add_argument("--noise-rate", action=renamed("--test-noise"), help=argparse.SUPPRESS)
    e.add_argument("--steps", type=int, default=None)
    e.add_argument("--seed", type=int, default=0, help="seed of the injected noise")
    e.add_argument("--out", default=None, help="JSON file (default: inside the run folder)")
    e.set_defaults(handler=command_evaluate)
    return p


def renamed(new: str) -> type[argparse.Action]:
    """The action of an option renamed ``new`` (issue 28): using the old name is an error naming the new one."""

    class Renamed(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            parser.error(f"option {option_string} was renamed {new}")

    return Renamed


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parser().parse_args(argv)
    try:
        result = args.handler(args)
    except (ValueError, OSError) as error:  # a bad input, a missing or unreadable file: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "course" and not (result["status"] == "ok").all():
        return 1  # a notebook failed; the table printed above names it
    if args.command == "docs" and args.check and result:
        return 1  # a generated page is out of step; the lines above name it
    return 0
