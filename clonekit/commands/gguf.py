"""clonekit gguf RUN -o clone.gguf : one GGUF file for llama.cpp / Ollama / LM Studio."""

from __future__ import annotations

import argparse

QUANT_HELP = ("f32, f16, bf16, q8_0 (default: near-lossless, half of f16), q4_0 or q4_1 (4-bit; the output "
              "projection stays q8_0). k-quants (q4_k_m, q5_k_m, q6_k, ...) come from llama.cpp's llama-quantize: "
              "asking for one prints the command")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gguf", help="export a run as one GGUF file (+ Ollama Modelfile) for llama.cpp, Ollama, LM Studio",
        description="Merge the run's adapter into its unquantized base and write a single GGUF file with the "
        "tokenizer, chat template, stop tokens and persona metadata, plus an Ollama Modelfile beside it "
        "(FROM, TEMPLATE, stop PARAMETERs, the persona SYSTEM prompt). Supports Llama 2/3.x, Mistral, "
        "Qwen2/2.5/3. The last line printed is the written file.")
    p.add_argument("run", metavar="RUN", help="run folder or run id")
    p.add_argument("-o", "--output", required=True, metavar="FILE.gguf", help="new file to create")
    p.add_argument("--quant", default="q8_0", metavar="TYPE", help=QUANT_HELP)
    p.add_argument("--as", dest="contact", metavar="NAME",
                   help="the contact the Modelfile's SYSTEM prompt talks to (default: the most frequent one)")
    p.add_argument("--role", metavar="ROLE", help="that contact's role (boss, friend, ...)")
    p.add_argument("--merge-dtype", choices=["auto", "bf16", "fp32"], default="auto",
                   help="precision of the merge before conversion (auto: fp32 when it fits in memory)")
    return p


def run(args: argparse.Namespace) -> int:
    from clonekit.commands.chat import quiet_transformers
    from clonekit.progress import ProgressPrinter
    from trainer.gguf import export_gguf
    from trainer.gguf.quant import llama_quantize_command

    quiet_transformers()
    printer = ProgressPrinter()
    result = export_gguf(args.run, args.output, quant=args.quant, contact=args.contact, role=args.role,
                         merge_dtype=args.merge_dtype, on_event=printer)
    printer.close()
    types = ", ".join(f"{n} {t}" for t, n in sorted(result.tensor_types.items()))
    print(f"{result.quant}: {result.size / 2**20:.1f} MiB, tensors: {types}")
    print(f"modelfile: {result.modelfile}  (ollama create NAME -f {result.modelfile})")
    if result.quant in ("f16", "bf16", "f32"):
        smaller = result.path.with_name(result.path.stem + "-Q4_K_M.gguf")
        print(f"k-quant: {llama_quantize_command(str(result.path), str(smaller), 'q4_k_m')}")
    print(result.path)
    return 0
