"""GGUF export and llama.cpp CPU speed on a Qwen2.5-0.5B-shaped model (random weights,
LoRA r=16 on every projection, vocabulary padded to 151936 like the real one).

  python bench/gguf_export.py [--quants f16 q8_0 q4_0] [--tokens 64] [--repeats 3] [--threads 2]

Per quant: `clonekit gguf`'s export time (merge included) and file size; then llama.cpp
(llama-cpp-python) greedy decode tokens/s, median of --repeats, against the reference
measured in the same run: transformers' fp32 `generate` of the merged model on the same
CPU threads. Needs `pip install llama-cpp-python`."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_run(root: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from tests.trainer.run_fixture import PERSONA
    from tests.trainer.test_gguf import QWEN2_SPLIT, byte_level_tokenizer
    from trainer.templates import prepare_tokenizer

    torch.manual_seed(0)
    run = root / "qwen05b"
    tokenizer = byte_level_tokenizer(QWEN2_SPLIT)
    info = prepare_tokenizer(tokenizer, "chatml")
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                         tie_word_embeddings=True, rope_theta=1000000.0, eos_token_id=tokenizer.eos_token_id)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(run / "base")
    tokenizer.save_pretrained(run / "base")
    peft_model = get_peft_model(model, LoraConfig(
        r=16, lora_alpha=32, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    peft_model.save_pretrained(run / "adapter")
    tokenizer.save_pretrained(run / "adapter")
    (run / "run.json").write_text(json.dumps({
        "run_id": run.name, "status": "done", "base": "qwen2.5-0.5b-shaped", "base_path": str(run / "base"),
        "method": "lora", "load_in_4bit": False, "dataset": "", "dataset_version": "bench/v0001",
        "manifest_sha256": "0" * 64, "persona": PERSONA, "chat_template": "chatml",
        "stop_token_ids": info.stop_token_ids, "config": {}, "final": {}}))
    return run


def decode_tps(llm, prompt: list[int], tokens: int) -> float:
    llm.reset()
    llm.eval(prompt)
    start = time.perf_counter()
    for _ in range(tokens):
        token = llm.sample(temp=0.0)
        llm.eval([token])
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quants", nargs="+", default=["f16", "q8_0", "q4_0"])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp
    import torch

    from trainer.gguf import export_gguf
    from trainer.inference import open_run
    from trainer.merge import merge_adapter

    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench-gguf-"))
    run = make_run(root)
    prompt = list(range(1000, 1032))  # 32 prompt tokens
    for quant in args.quants:
        start = time.perf_counter()
        result = export_gguf(run, root / f"clone-{quant}.gguf", quant=quant, merge_dtype="fp32")
        export_s = time.perf_counter() - start
        # n_batch=1: this machine's llama.cpp build crashes on batched q8_0/q4_0 matmuls (AMX)
        llm = llama_cpp.Llama(model_path=str(result.path), n_ctx=256, n_threads=args.threads, n_batch=1,
                              n_ubatch=1, verbose=False)
        runs = [decode_tps(llm, prompt, args.tokens) for _ in range(args.repeats)]
        print(f"{quant}: export {export_s:.1f} s, {result.size / 2**20:.0f} MiB; llama.cpp decode "
              f"median {statistics.median(runs):.1f} tok/s (min {min(runs):.1f}, max {max(runs):.1f})", flush=True)
        del llm
    model = merge_adapter(open_run(run), "fp32").eval()
    ids = torch.tensor([prompt])
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False)
        runs.append((out.shape[1] - ids.shape[1]) / (time.perf_counter() - start))
    print(f"reference transformers fp32 generate: median {statistics.median(runs):.1f} tok/s "
          f"(min {min(runs):.1f}, max {max(runs):.1f}), prompt included in the timing")


if __name__ == "__main__":
    main()
