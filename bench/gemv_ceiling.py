"""The bandwidth ceiling of one-token decoding on this GPU: every weight matrix of a
7B-shaped Mistral read once by a batch-1 matmul (cuBLAS, as the model's own linears),
replayed as one CUDA graph, so no Python or launch gaps count. Two layouts: the model's
own (q, k, v, o, gate, up, down separate) and fused (qkv, gate+up), which is what a
custom decode path could use. Tokens/s here is the most any decode loop that reads the
bf16 weights with these kernels can reach (attention, norms and sampling excluded).

    python bench/gemv_ceiling.py            # needs CUDA"""

from __future__ import annotations

import statistics
import time

import torch

H, KV, FF, LAYERS, VOCAB = 4096, 1024, 14336, 32, 32000


def run(shapes: list[tuple[int, int]], repeats: int = 20) -> tuple[float, float, float, float, float]:
    weights = [torch.randn(o, i, dtype=torch.bfloat16, device="cuda") * 0.01 for o, i in shapes]
    xs = {i: torch.randn(1, i, dtype=torch.bfloat16, device="cuda") for _, i in shapes}
    outs = []

    def body():
        outs.clear()
        for w in weights:
            outs.append(xs[w.shape[1]] @ w.t())
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            body()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    for _ in range(5):
        graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    nbytes = sum(w.numel() * 2 for w in weights)
    weights.clear()
    torch.cuda.empty_cache()
    med = statistics.median(times)
    return nbytes / 1e9, nbytes / med / 1e12, 1 / med, 1 / max(times), 1 / min(times)


def main() -> None:
    own = [(H, H), (KV, H), (KV, H), (H, H), (FF, H), (FF, H), (H, FF)] * LAYERS + [(VOCAB, H)]
    fused = [(H + 2 * KV, H), (H, H), (2 * FF, H), (H, FF)] * LAYERS + [(VOCAB, H)]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name, shapes in (("model's own linears", own), ("fused qkv and gate+up", fused)):
        gb, tbs, tps, slowest, fastest = run(shapes)
        print(f"{name}: {gb:.2f} GB per token, {tbs:.2f} TB/s, {tps:.0f} tokens/s ceiling, median of 20 "
              f"({slowest:.0f}-{fastest:.0f}; {tps / (4.8e12 / (gb * 1e9)) * 100:.0f}% of the 4.8 TB/s limit)")


if __name__ == "__main__":
    main()
