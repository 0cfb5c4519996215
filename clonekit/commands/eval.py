"""clonekit eval RUN : perplexity and style of the clone vs the base, on held-out data."""

from __future__ import annotations

import argparse

from clonekit.commands.chat import add_sampling_args


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval", help="perplexity and style statistics of base vs fine-tuned on the val set; writes eval.md",
        description="Scores the run's validation set (persona turns only) with the base and the fine-tuned "
        "model, generates replies for held-out conversations and compares their style with the real "
        "replies. Writes eval.md and eval.json into the run folder.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("--max-records", type=int, default=200, help="val conversations to score (default 200)")
    p.add_argument("--samples", type=int, default=24, help="held-out replies to generate per model (default 24)")
    p.add_argument("--seed", type=int, default=0)
    add_sampling_args(p)
    p.set_defaults(max_new_tokens=128)
    return p


def run(args: argparse.Namespace) -> int:
    from builder.errors import ClonekitError
    from clonekit.commands.chat import quiet_transformers, sampling_from_args
    from clonekit.progress import ProgressPrinter
    from trainer.evaluate import EvalConfig, evaluate_run

    if args.max_records < 1 or args.samples < 0:
        raise ClonekitError("--max-records must be >= 1 and --samples >= 0")
    quiet_transformers()
    printer = ProgressPrinter()
    result = evaluate_run(args.run, EvalConfig(max_records=args.max_records, samples=args.samples,
                                               seed=args.seed, sampling=sampling_from_args(args),
                                               device=args.device), on_event=printer)
    printer.close()
    print(f"perplexity: base {result['perplexity_base']:.2f} -> fine-tuned {result['perplexity_fine-tuned']:.2f}")
    print(f"wrote {result['eval_md']}")
    return 0
