"""The fast training path stays the same training: per-conversation attention equals the
block-diagonal mask (logits, loss and LoRA-relevant gradients), the collator's
boundaries match the packed rows, the memory plan keeps the rows per optimizer step,
and the progress rates are labelled and computed from step time only."""

from __future__ import annotations

import pytest

from builder.errors import ClonekitError
from trainer.config import TrainConfig
from trainer.data import IGNORE, Encoded, PackedCollator, make_rows
from trainer.estimate import ModelShape, memory_bytes, plan_memory
from trainer.packed_attention import ATTN_NAME, VarlenCollator, register

GiB = 1024**3


def _model(attn: str, kv_heads: int = 2, sliding_window=None):
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    cfg = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=kv_heads, sliding_window=sliding_window, attn_implementation=attn)
    return MistralForCausalLM(cfg)


def _seqs():
    import random

    rng = random.Random(3)
    out = []
    for n in (7, 3, 12, 5):
        ids = [rng.randrange(1, 64) for _ in range(n)]
        out.append(Encoded(ids, [IGNORE] + ids[1:]))
    return out


@pytest.mark.parametrize("kv_heads,sliding_window", [(4, None), (2, None), (2, 4)])
def test_packed_attention_logits_equal_each_conversation_alone(kv_heads, sliding_window):
    """Per-conversation attention over a packed row gives each conversation the logits it
    has alone, with grouped kv heads, and with a sliding window applied per conversation."""
    import torch

    register()
    model = _model(ATTN_NAME, kv_heads, sliding_window=sliding_window).eval()
    seqs = _seqs()
    batch = VarlenCollator()([{"input_ids": [s.input_ids for s in seqs], "labels": [s.labels for s in seqs]}])
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[0]
        model.set_attn_implementation("sdpa")
        alone = torch.cat([model(input_ids=torch.tensor([s.input_ids])).logits[0] for s in seqs])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


def test_packed_attention_loss_and_grads_equal_the_block_diagonal_mask():
    """The same micro-batch through the shipped path (VarlenCollator + per-conversation
    attention) and through transformers' block-diagonal sdpa mask (PackedCollator): same
    loss, same gradients."""
    import torch

    register()
    seqs = _seqs()
    feats = [{"input_ids": [s.input_ids for s in seqs], "labels": [s.labels for s in seqs]}]
    results = []
    for attn, collator in ((ATTN_NAME, VarlenCollator()), ("sdpa", PackedCollator())):
        model = _model(attn).train()
        out = model(**collator(feats), use_cache=False)
        out.loss.backward()
        results.append((out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, atol=1e-6, rtol=1e-5)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-5, rtol=1e-4, msg=name)


def test_varlen_collator_boundaries_match_the_restarting_positions():
    seqs = _seqs()
    rows = make_rows(seqs, max_length=16, packing=True)
    batch = VarlenCollator()([rows[i] for i in range(len(rows))])
    pos = batch["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0]
    cu = batch["cu_seq_lens_q"].tolist()
    assert cu[:-1] == starts and cu[-1] == len(pos) and batch["cu_seq_lens_k"] is batch["cu_seq_lens_q"]
    assert batch["max_length_q"] == max(len(s.input_ids) for s in seqs) and isinstance(batch["max_length_q"], int)
    labels = batch["labels"][0].tolist()
    assert all(labels[s] == IGNORE for s in starts)  # nothing predicted across a boundary


def test_packed_attention_refuses_a_batch_without_boundaries():
    import torch

    register()
    model = _model(ATTN_NAME).eval()
    with pytest.raises(ValueError, match="cu_seq_lens_q"):
        model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=False)


# ---------------------------------------------------------------- memory plan
SHAPE_7B = ModelShape(total_params=7_241_732_096, linear_params=6_979_321_856, linears=[], hidden=4096,
                      intermediate=14336, layers=32, vocab=32000)


def _cfg(**kw) -> TrainConfig:
    base = dict(method="qlora", max_length=3000, batch_size=1, grad_accum=8, lora_r=32, lora_alpha=64)
    return TrainConfig(**{**base, **kw})


def test_plan_turns_checkpointing_off_and_grows_the_micro_batch_when_memory_is_free():
    plan = plan_memory(SHAPE_7B, _cfg(), 83_886_080, free_bytes=140 * GiB, fused=True)
    assert plan.checkpointing is False
    assert plan.batch_size > 1 and plan.batch_size * plan.grad_accum == 8  # same rows per optimizer step
    need = memory_bytes(SHAPE_7B, _cfg(), 83_886_080, checkpointing=False, batch_size=plan.batch_size, fused=True)
    assert need <= 0.9 * 140 * GiB
    bigger = next(b for b in (2, 4, 8) if b > plan.batch_size) if plan.batch_size < 8 else None
    if bigger:
        assert memory_bytes(SHAPE_7B, _cfg(), 83_886_080, checkpointing=False, batch_size=bigger, fused=True) > 0.9 * 140 * GiB


def test_plan_checkpoints_when_only_that_fits():
    plan = plan_memory(SHAPE_7B, _cfg(), 83_886_080, free_bytes=16 * GiB, fused=False)
    assert plan.checkpointing is True and plan.batch_size * plan.grad_accum == 8
    assert "needed to fit" in plan.reason
    assert memory_bytes(SHAPE_7B, _cfg(), 83_886_080, checkpointing=False, batch_size=1) > 0.9 * 16 * GiB


def test_plan_honours_forced_settings_and_fixed_micro_batch():
    forced = plan_memory(SHAPE_7B, _cfg(gradient_checkpointing=True), 83_886_080, free_bytes=140 * GiB, fused=True)
    assert forced.checkpointing is True and "forced" in forced.reason
    fixed = plan_memory(SHAPE_7B, _cfg(micro_batch="fixed", batch_size=2, grad_accum=4), 83_886_080,
                        free_bytes=140 * GiB, fused=True)
    assert (fixed.batch_size, fixed.grad_accum) == (2, 4)
    dense = plan_memory(SHAPE_7B, _cfg(), 83_886_080, free_bytes=140 * GiB, fused=True, packed_attention=False)
    assert dense.checkpointing is False and (dense.batch_size, dense.grad_accum) == (1, 8)  # no quadratic rows
    cpu = plan_memory(SHAPE_7B, _cfg(gradient_checkpointing="auto"), 83_886_080, free_bytes=None, fused=False)
    assert cpu.checkpointing is False and (cpu.batch_size, cpu.grad_accum) == (1, 8)


def test_memory_grows_with_tokens_and_shrinks_with_checkpointing_and_fused_kernels():
    cfg = _cfg()
    m = lambda **kw: memory_bytes(SHAPE_7B, cfg, 83_886_080, **kw)  # noqa: E731
    assert m(checkpointing=True, batch_size=1) < m(checkpointing=False, batch_size=1) < m(checkpointing=False, batch_size=2)
    assert m(checkpointing=False, batch_size=2, fused=True) < m(checkpointing=False, batch_size=2, fused=False)


def test_time_estimate_reproduces_the_h200_calibration():
    """The constants fitted on the H200 runs (bench/RESULTS.md) give back those epochs."""
    from trainer.estimate import Plan, estimate

    def epoch(plan):
        return estimate(SHAPE_7B, _cfg(), 83_886_080, "cpu", 3_878_102, 1293, 800.4, plan)

    # On CPU the rate is the CPU's; compare the ratio of the two plans instead.
    shipped = Plan(False, 4, 2, True, 140 * GiB, "", packed_attention=True)
    today = Plan(True, 1, 8, False, 140 * GiB, "", packed_attention=False)
    from trainer.estimate import assumed_mfu, flops_per_token

    t_shipped = 3_878_102 * flops_per_token(SHAPE_7B, _cfg(), False, 800.4) / (989e12 * assumed_mfu("qlora", True, True, 4))
    t_today = 3_878_102 * flops_per_token(SHAPE_7B, _cfg(), True, 800.4) / (989e12 * assumed_mfu("qlora", False, False, 1))
    assert t_shipped == pytest.approx(273.2, rel=0.15) and t_today == pytest.approx(712.0, rel=0.15)
    assert epoch(shipped).peak_memory_bytes > epoch(today).peak_memory_bytes


def test_fused_kernels_on_without_a_gpu_is_a_one_line_error():
    from trainer import kernels

    assert kernels.wanted(_cfg(fused_kernels="auto"), "cpu") is False
    assert kernels.wanted(_cfg(fused_kernels="off"), "cuda") is False
    with pytest.raises(ClonekitError, match="CUDA"):
        kernels.wanted(_cfg(fused_kernels="on"), "cpu")


def test_old_run_json_configs_still_validate():
    """run.json written before the plan existed said gradient_checkpointing: true."""
    assert TrainConfig(gradient_checkpointing=True).gradient_checkpointing is True
    assert TrainConfig().gradient_checkpointing == "auto" and TrainConfig().micro_batch == "auto"


# ---------------------------------------------------------------- progress rates
class _State:
    def __init__(self):
        self.global_step = 0
        self.num_input_tokens_seen = 0
        self.max_steps = 30
        self.epoch = 0.0
        self.is_world_process_zero = True
        self.best_model_checkpoint = None


class _Args:
    world_size = 1


def test_progress_shows_windowed_and_cumulative_rates_from_step_time_only(tmp_path, monkeypatch):
    from builder.events import NEVER_CANCELLED, Progress
    from trainer import callbacks as cbmod

    clock = [100.0]
    monkeypatch.setattr(cbmod.time, "monotonic", lambda: clock[0])
    events = []
    cb = cbmod.EventsCallback(events.append, NEVER_CANCELLED, tmp_path / "metrics.jsonl", tokens_per_epoch=100_000)
    state, args = _State(), _Args()
    cb.on_train_begin(args, state, None)
    for step in range(1, 21):
        cb.on_step_begin(args, state, None)
        # steps 1-10: 1000 tokens in 1 s; steps 11-20: 1000 tokens in 0.5 s
        clock[0] += 1.0 if step <= 10 else 0.5
        state.num_input_tokens_seen += 1000
        state.global_step = step
        cb.on_step_end(args, state, None)
        if step == 10:
            clock[0] += 60.0  # an eval and a checkpoint save: not training time
        cb.on_log(args, state, None, logs={"loss": 1.0, "learning_rate": 1e-4})
    last = cb.last
    assert last["tokens_per_s"] == pytest.approx(2000.0)  # the last 10 steps
    assert last["tokens_per_s_avg"] == pytest.approx(20_000 / 15.0)  # 20 steps' tokens over 15 s of steps
    assert cb.steady_rate() == pytest.approx(2000.0)  # median of steps 4..20
    prog = [e for e in events if isinstance(e, Progress)][-1]
    assert "now 2,000 tok/s" in prog.detail and "avg 1,333 tok/s" in prog.detail
    assert prog.extra["tokens_per_s_avg"] == pytest.approx(20_000 / 15.0)
    assert cb.measured_epoch_seconds == pytest.approx(100.0)  # calibrated at step 8 from 1,000 tokens/s


def test_fused_cross_entropy_stays_off_when_peft_trains_the_head(monkeypatch):
    """Liger's fused loss reads lm_head.weight directly: a LoRA on the head, or new token
    rows that peft trains there, would silently stop learning. The kernel patch itself is
    recorded (liger may be absent here), not run."""
    import sys
    import types

    from trainer import kernels

    calls = []
    fake = types.ModuleType("liger_kernel.transformers.monkey_patch")
    fake.MODEL_TYPE_TO_APPLY_LIGER_FN = {"mistral": None}
    fake._apply_liger_kernel_to_instance = lambda model, **kw: calls.append(kw)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", fake)
    model = types.SimpleNamespace(config=types.SimpleNamespace(model_type="mistral"))
    assert "fused_linear_cross_entropy" in kernels.apply(model, _cfg())
    assert calls[-1]["fused_linear_cross_entropy"] is True
    assert "fused_linear_cross_entropy" not in kernels.apply(model, _cfg(), head_rows_trained=True)
    assert calls[-1]["fused_linear_cross_entropy"] is False
    lora_head = _cfg(target_modules=["q_proj", "lm_head"])
    assert "fused_linear_cross_entropy" not in kernels.apply(model, lora_head)
    model.config.model_type = "unknown-arch"
    assert kernels.apply(model, _cfg()) == []
    with pytest.raises(ClonekitError, match="no kernels"):
        kernels.apply(model, _cfg(fused_kernels="on"))
