"""clonekit train --data datasets/NAME/vNNNN --base MODEL [--preset ...] : train an adapter.
Prints the run folder as the last line of stdout."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

_PARSER: argparse.ArgumentParser  # set by register(); _argv_of reads its options

PRESETS = ["seed-qlora-7b", "qlora", "lora", "full", "fsdp-qlora", "tiny-cpu"]


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a QLoRA/LoRA adapter on a dataset version",
        description="Train on a dataset version (loss on your turns, padding-free packing, eval and early "
        "stopping, checkpoints). Writes runs/<run-id>/ and prints its path as the last line.",
    )
    p.add_argument("--data", metavar="VERSION", help="dataset version folder (datasets/NAME/v0001) or NAME/v0001")
    p.add_argument("--base", metavar="MODEL", help="Hugging Face id, local model folder, or 'tiny' (offline test model)")
    p.add_argument("--preset", default="qlora", metavar="NAME",
                   help=f"one of {', '.join(PRESETS)} or a .toml file (default: qlora)")
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
    p.add_argument("--epochs", type=float)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--max-length", type=int, help="tokens per packed row / longest conversation")
    p.add_argument("--lora-r", type=int, help="LoRA rank (alpha follows at 2x)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--eval-steps", type=int, help="eval and checkpoint every N steps")
    p.add_argument("--train-on", choices=["assistant", "all"], help="loss on your turns (default) or every token")
    p.add_argument("--chat-template", choices=["auto", "base", "chatml", "llama3"])
    p.add_argument("--no-packing", action="store_true", help="pad each conversation instead of packing rows")
    p.add_argument("--checkpointing", choices=["auto", "on", "off"],
                   help="activation checkpointing (auto: off when the run fits the free GPU memory without it)")
    p.add_argument("--fused-kernels", choices=["auto", "on", "off"],
                   help="Liger fused kernels on CUDA: fused linear cross-entropy, RMSNorm, SwiGLU, RoPE (auto: when installed)")
    p.add_argument("--attention", choices=["auto", "packed", "sdpa", "eager"],
                   help="attention (auto: per conversation for packed rows, varlen flash on CUDA)")
    p.add_argument("--seed", type=int)
    p.add_argument("--gpus", type=int, metavar="N",
                   help="train on N GPUs of this machine (re-runs itself under torchrun; data parallel unless --fsdp)")
    p.add_argument("--fsdp", action="store_true",
                   help="with --gpus N: shard the base over the GPUs (FSDP) for bases too big for one GPU")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/<run-id>)")
    p.add_argument("--check", action="store_true",
                   help="only show how the base's chat template is applied: the probe's verdict and three rendered "
                   "records with the loss-carrying text marked (loads the tokenizer, no weights)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (or the latest unfinished one) from its last checkpoint")
    p.add_argument("--events-jsonl", metavar="FILE", help="also write progress events as JSON lines (for the TUI)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    global _PARSER
    _PARSER = p
    return p


def overrides_from_args(args: argparse.Namespace) -> dict:
    o = {
        "max_steps": args.max_steps, "epochs": args.epochs, "lr": args.lr, "max_length": args.max_length,
        "lora_r": args.lora_r, "lora_alpha": 2 * args.lora_r if args.lora_r else None,
        "batch_size": args.batch_size, "grad_accum": args.grad_accum, "eval_steps": args.eval_steps,
        "train_on": args.train_on, "chat_template": args.chat_template, "seed": args.seed,
        "packing": False if args.no_packing else None,
        "gradient_checkpointing": {"on": True, "off": False}.get(args.checkpointing, args.checkpointing),
        "fused_kernels": args.fused_kernels, "attn_implementation": args.attention,
        # An explicit --batch-size is the micro-batch; otherwise it follows free GPU memory.
        "micro_batch": "fixed" if args.batch_size else None,
        "fsdp": True if getattr(args, "fsdp", False) else None,
    }
    return {k: v for k, v in o.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "check", False):
        return _check(args)
    from builder.errors import ClonekitError
    from trainer.preflight import check_train_args

    if not args.resume:  # cheap checks first: a typo should not wait for torch to import
        check_train_args(args.data, args.base, args.preset)
    if args.gpus is not None and args.gpus < 1:
        raise ClonekitError(f"--gpus {args.gpus}: must be 1 or more")
    if (args.gpus or 1) > 1 and not _under_launcher():
        return _launch(args)
    _sigterm_as_interrupt()
    from trainer.train import TrainRequest, quiet_libraries, train

    quiet_libraries()  # before trainer.callbacks imports transformers
    from clonekit.progress import ProgressPrinter
    from trainer.callbacks import JsonlEvents, tee

    overrides = overrides_from_args(args)
    if args.resume and (args.data or args.base or overrides):
        raise ClonekitError("--resume continues a run with its saved config; drop --data/--base/overrides (or start a new run)")
    printer = ProgressPrinter(quiet=args.quiet)
    writer = JsonlEvents(args.events_jsonl) if args.events_jsonl else None
    on_event = tee(printer, writer) if writer else printer
    req = TrainRequest(data=args.data, base=args.base, preset=args.preset, overrides=overrides,
                       out=Path(args.out) if args.out else None, resume=args.resume)
    try:
        run_dir = train(req, on_event=on_event)
    finally:
        printer.close()
        if writer:
            writer.close()
    if int(os.environ.get("RANK", 0)) == 0:  # one rank names the run folder
        print(run_dir)
    return 0


def _under_launcher() -> bool:
    from trainer.launch import under_launcher

    return under_launcher()


def _launch(args: argparse.Namespace) -> int:
    """--gpus N: print the per-GPU estimate, then run this same command under torchrun."""
    import sys

    from trainer.launch import check_gpus, memory_lines, relaunch

    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if not args.resume:
        from trainer.presets import resolve_config

        cfg = resolve_config(args.preset, overrides_from_args(args))
        check_gpus(args.gpus, cfg)
        for line in memory_lines(cfg, args.base, args.gpus):
            say(line)
    return relaunch(args.gpus, _argv_of(args), say)


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The `clonekit train` arguments that produced ``args`` (defaults left out)."""
    out: list[str] = []
    for action in _PARSER._actions:
        if not action.option_strings or action.dest in ("help", "gpus"):
            continue
        value = getattr(args, action.dest, None)
        if value is None or value is False or value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        out += [flag] if value is True else [flag, str(value)]
    return out


def _sigterm_as_interrupt() -> None:
    """SIGTERM (the TUI's Cancel, `kill`, a job scheduler) stops training like Ctrl-C, so
    run.json says "interrupted" and the message says what was kept."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _check(args: argparse.Namespace) -> int:
    """`--check`: the template verdict and three rendered records, before any GPU time."""
    import sys

    from builder.errors import ConfigError
    from trainer.template_check import check_template, format_check

    if not args.data or not args.base:
        raise ConfigError("--check needs --data (a dataset version) and --base (the model to check)")
    report = check_template(args.data, args.base, args.preset, overrides_from_args(args))
    print(format_check(report, color=sys.stdout.isatty()))
    return 0
