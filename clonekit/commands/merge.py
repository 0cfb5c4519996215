"""clonekit merge RUN -o DIR : bake the adapter into a standalone model folder."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "merge", help="merge a run's adapter into its base and save a standalone model",
        description="Merge the LoRA adapter into an unquantized copy of the base and save safetensors, "
        "tokenizer and chat template: a plain transformers model folder (also for vLLM / TGI).")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="new folder to create")
    p.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16",
                   help="weights dtype of the merged model (default bf16)")
    return p


def run(args: argparse.Namespace) -> int:
    from clonekit.commands.chat import quiet_transformers
    from clonekit.progress import ProgressPrinter
    from trainer.merge import merge_run

    quiet_transformers()
    printer = ProgressPrinter()
    out = merge_run(args.run, args.output, dtype=args.dtype, on_event=printer)
    printer.close()
    print(f"wrote {out}")
    return 0
