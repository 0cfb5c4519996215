"""clonekit compare RUN --prompts FILE : base vs fine-tuned (vs a reference) side by side."""

from __future__ import annotations

import argparse

from clonekit.commands.chat import add_sampling_args


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare", help="the same prompts through base, fine-tuned (and a reference model), side by side",
        description="Writes a Markdown and an HTML table (FILE.md and FILE.html) with one row per prompt. "
        "Prompts: .txt, one per line, or .jsonl with {\"prompt\", \"as\"?, \"role\"?}.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("--prompts", required=True, metavar="FILE", help=".txt or .jsonl prompts file")
    p.add_argument("-o", "--output", default="compare.md", metavar="FILE.md",
                   help="report path; the .html is written beside it (default compare.md)")
    p.add_argument("--reference-model", metavar="MODEL", help="also ask this OpenAI-compatible model")
    p.add_argument("--reference-base-url", default="https://api.openai.com/v1", metavar="URL",
                   help="its API base URL (default https://api.openai.com/v1)")
    p.add_argument("--reference-api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding its API key (default OPENAI_API_KEY)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (same for every model)")
    add_sampling_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    from clonekit.commands.chat import quiet_transformers, sampling_from_args
    from clonekit.progress import ProgressPrinter
    from trainer.compare import Reference, compare_run, read_prompts, write_report

    quiet_transformers()
    prompts = read_prompts(args.prompts)
    reference = None
    if args.reference_model:
        reference = Reference(args.reference_model, args.reference_base_url, args.reference_api_key_env)
    printer = ProgressPrinter()
    rows = compare_run(args.run, prompts, sampling_from_args(args), reference=reference, seed=args.seed,
                       device=args.device, on_event=printer)
    printer.close()
    md, htm = write_report(rows, args.output, f"{args.run}: base vs fine-tuned")
    print(f"wrote {md} and {htm}")
    return 0
