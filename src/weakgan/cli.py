"""Command-line interface: parses arguments and calls the modules that do the work."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from weakgan import WeakganError, __version__
from weakgan.cli_gan import add_gan_commands
from weakgan.cli_user import add_user_commands
from weakgan.config import add_config_flags, resolve


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v]
    except ValueError:
        raise WeakganError(f"'{text}': expected comma-separated numbers, e.g. 0.05,0.1") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v]
    except ValueError:
        raise WeakganError(f"'{text}': expected comma-separated integers, e.g. 0,1,2") from None


def _out_dir(text: str) -> str:
    if not text.strip():
        raise WeakganError("--out '': expected a folder name (an empty one would write into the current folder)")
    return text


def cmd_train(args) -> None:
    from weakgan.run import train_with_teacher
    cfg = resolve(args)
    _out_dir(args.out)
    last = Path(args.out) / "checkpoints" / "last.pt"
    # a run killed while it trained its own teacher (OUT/teacher, its teacher's OUT/teacher/teacher, ...) has only
    # that run's checkpoint yet
    if args.resume and not last.exists() and not any(Path(args.out).glob("**/checkpoints/last.pt")):
        raise WeakganError(f"{last}: no checkpoint to resume from; drop --resume to start a fresh run")
    m = train_with_teacher(cfg, args.out, override=args.override)
    print(f"{cfg.model} p={m['clean_fraction']} {m['noise']} seed {cfg.seed}: top1 {m['top1']:.4f} "
          f"top3 {m['top3']:.4f} macro AP {m['macro_ap']:.4f} ({m['train_seconds']:.0f}s) -> {args.out}")
    print_chain(Path(args.out))


def print_chain(out: Path) -> None:
    """After a run that trained its own teachers (OUT/teacher, OUT/teacher/teacher, ...): each one's validation
    top-1, and the one to use, chosen on validation (the test figures above are reports, not a choice)."""
    from weakgan.report import chosen_models, row_from_metrics
    chain = []
    while (out / "metrics.json").exists():
        chain.append((out, json.loads((out / "metrics.json").read_text())))
        out = out / "teacher"
    # the package's pick on validation, the earliest round listed first (ties: the earlier, simpler model)
    chosen = list(chosen_models([row_from_metrics(m) for _, m in reversed(chain)]).values())
    if len(chain) < 2 or not chosen:
        return
    for run, m in chain:
        val = "n/a" if m.get("val_top1") is None else f"{m['val_top1']:.4f}"
        print(f"  {m['model']:<12} val_top1 {val}  {run}")
    best = next(run for run, m in chain if m["model"] == chosen[0])
    print(f"best on validation: {chosen[0]} -> {best}")


def cmd_evaluate(args) -> None:
    from weakgan.run import evaluate_run
    m = evaluate_run(args.run_dir)
    print(json.dumps({k: m.get(k) for k in ("top1", "top3", "macro_ap", "val_top1")}))


def cmd_sweep(args) -> None:
    from weakgan.sweep import sweep
    cfg = resolve(args)
    _out_dir(args.out)
    from weakgan.sweep import parse_shard
    sweep(cfg, args.models.split(","), _floats(args.fractions), _ints(args.seeds), args.out,
          shard=parse_shard(args.shard))


def cmd_pretrain_contrastive(args) -> None:
    from weakgan.data import load_dataset
    from weakgan.runtime import pick_device, set_threads
    from weakgan.stages.contrastive import pretrain_contrastive
    cfg = resolve(args)
    set_threads(cfg.threads)
    path = pretrain_contrastive(cfg, load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg=cfg),
                                pick_device(cfg.device), cfg.cache_dir)
    print(f"contrastive backbone: {path}")


def cmd_reproduce(args) -> None:
    from weakgan.reproduce import preset_config, reproduce
    cfg = resolve(args, base=preset_config(args.preset))
    from weakgan.sweep import parse_shard
    reproduce(args.preset, cfg, _out_dir(args.out) if args.out is not None else f"reports/{args.preset}",
              _ints(args.seeds) if args.seeds else None, shard=parse_shard(args.shard),
              models=args.models.split(",") if args.models else None,
              fractions=_floats(args.fractions) if args.fractions else None)


def cmd_report(args) -> None:
    from weakgan.reproduce import report_folder
    print(report_folder(args.dir))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="weakgan", description=__doc__)
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model on one split")
    add_config_flags(t)
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt and fail if it is missing (re-running the "
                        "same command without this flag also resumes, or starts fresh)")
    t.add_argument("--override", action="store_true",
                   help="continue a run folder started with other settings, with these ones (recorded in "
                        "OUT/history.json); without it such a re-run is refused")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="re-evaluate a finished run on the test set")
    e.add_argument("run_dir")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sweep", help="models x clean fractions x seeds -> results.csv + results.md")
    add_config_flags(s, skip=("model", "clean_fraction", "seed"))
    s.add_argument("--models", default="clean-only,nr")
    s.add_argument("--fractions", default="0.05,0.1,0.2,0.5,0.7")
    s.add_argument("--seeds", default="0")
    s.add_argument("--out", required=True)
    s.add_argument("--shard", help="K/N: run only grid entries K, K+N, ... (parallel workers, job arrays)")
    s.set_defaults(func=cmd_sweep)
    r = sub.add_parser("reproduce", help="the paper's experiment: pretraining, all models x fractions x seeds, report")
    r.add_argument("--preset", default="quick", help="quick | full | ablation | paper, or a preset YAML file")
    r.add_argument("--seeds", help="comma-separated seeds (default: the preset's)")
    r.add_argument("--models", help="comma-separated: only these of the preset's models (and the runs they read)")
    r.add_argument("--fractions", help="comma-separated: only these of the preset's clean fractions")
    r.add_argument("--out", help="report folder (default reports/PRESET)")
    r.add_argument("--shard", help="K/N: run only grid entries K, K+N, ... (then `weakgan report DIR`)")
    add_config_flags(r, skip=("model", "clean_fraction", "seed"))
    r.set_defaults(func=cmd_reproduce)

    rp = sub.add_parser("report", help="merge the finished runs of a sweep/reproduce folder into results + report")
    rp.add_argument("dir")
    rp.set_defaults(func=cmd_report)

    c = sub.add_parser("pretrain-contrastive", help="SimCLR pretraining of the backbone on the train images (cached)")
    add_config_flags(c, groups=("what to train", "data", "model", "optimisation", "runtime"))
    c.set_defaults(func=cmd_pretrain_contrastive)
    add_user_commands(sub)   # predict, label-issues, export (cli_user.py)
    add_gan_commands(sub)    # pretrain-gan, generate, gan-eval (cli_gan.py)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except WeakganError as e:
        print(f"weakgan: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:   # a file the work needed could not be read or written: name it, no traceback
        where = e.filename or "a file"
        print(f"weakgan: error: {where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("weakgan: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
