"""Trace capture and replay, and the second command queue, on the host path: a replayed sample_actions equals the
eager one exactly, the replayed call is nothing but input writes, traced ops and one read, and every action a device
forbids around a trace raises (tt/host/trace.py)."""

from __future__ import annotations

import pytest
import torch

from models import Observation, get_preset
from reference.random_init import random_policy
from tt.common import upload
from tt.dry_run import dry_run, policy_config
from tt.host.errors import RuleViolation
from tt.ops import ttnn
from tt.policy import Pi0Policy as TTPolicy
from tt.precision import Precision
from tt.traced import COMPUTE_QUEUE, INPUT_QUEUE

PRESETS = ("pi0-tiny", "pi05-tiny", "pi0-qwen3-tiny")


def _observation(cfg, seed: int) -> Observation:
    gen = torch.Generator().manual_seed(seed)
    cams = cfg.cameras[:2]
    return Observation(images={c: torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1 for c in cams},
                       tokens=torch.randint(0, cfg.vlm.vocab_size, (1, 20), generator=gen),
                       token_masks=torch.ones(1, 20, dtype=torch.bool),
                       state=torch.randn(1, 32, generator=gen) if cfg.suffix.has_state_token else None)


@pytest.mark.parametrize("preset", PRESETS)
@torch.no_grad()
def test_replay_equals_eager_exactly(runtime, preset):
    """Compile call, capture call, then replays with new inputs written on queue 1: each equals the eager call on
    the same inputs bit for bit, and the replayed call is input writes, traced ops and one read, nothing else."""
    cfg = get_preset(preset)
    policy = TTPolicy(runtime, cfg, random_policy(cfg, seed=3).state_dict(), Precision("bfp8"))
    noises = [torch.randn(1, cfg.suffix.horizon, cfg.suffix.action_dim, generator=torch.Generator().manual_seed(s))
              for s in range(4)]
    for call, noise in enumerate(noises):
        obs = _observation(cfg, seed=call)
        with runtime.recording() as log:
            traced = policy.sample_actions(obs, noise=noise, num_steps=3)
        eager = policy.sample_actions(obs, noise=noise, num_steps=3, on_stage=lambda stage: None)
        assert torch.equal(traced, eager), f"{preset} call {call}: traced and eager actions differ"
        if call >= 2:
            kinds = [(r.kind, r.op) for r in log.entries]
            ops = [r for r in log.entries if r.kind == "op"]
            writes = kinds.index(("op", ops[0].op))
            assert {k for k in kinds[:writes]} == {("to_device", "ttnn.copy_host_to_device_tensor")}
            assert all(r.traced for r in ops), "an op was dispatched by the host inside the replayed call"
            assert kinds[writes:] == [("op", r.op) for r in ops] + [("from_device", "ttnn.to_torch")]
    policy.traced.release()
    print(f"[{runtime.label}] {preset}: 4 traced calls (compile, capture, 2 replays) equal eager bit for bit")


@pytest.fixture
def device_tensors(runtime):
    def make(value=1.0):
        return upload(runtime, torch.full((1, 1, 32, 32), value), ttnn.bfloat16)
    return make


def _captured(runtime, x):
    trace = ttnn.begin_trace_capture(runtime.device, cq_id=COMPUTE_QUEUE)
    y = ttnn.add(x, x)
    ttnn.end_trace_capture(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    return trace, y


@pytest.mark.parametrize("action", ["upload", "to_device", "write", "read", "execute", "nested capture"])
def test_forbidden_inside_a_capture(runtime, device_tensors, action):
    x = device_tensors()
    host = ttnn.from_torch(torch.ones(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)
    done, trace = _captured(runtime, x)[0], ttnn.begin_trace_capture(runtime.device, cq_id=COMPUTE_QUEUE)
    actions = {
        "upload": lambda: device_tensors(),
        "to_device": lambda: ttnn.to_device(host, runtime.device),
        "write": lambda: ttnn.copy_host_to_device_tensor(host, x, cq_id=COMPUTE_QUEUE),
        "read": lambda: ttnn.to_torch(x),
        "execute": lambda: ttnn.execute_trace(runtime.device, done, cq_id=COMPUTE_QUEUE),
        "nested capture": lambda: ttnn.begin_trace_capture(runtime.device, cq_id=COMPUTE_QUEUE),
    }
    try:
        with pytest.raises(RuleViolation, match="trace capture|still being captured"):
            actions[action]()
    finally:
        ttnn.end_trace_capture(runtime.device, trace, cq_id=COMPUTE_QUEUE)
        ttnn.release_trace(runtime.device, trace)
        ttnn.release_trace(runtime.device, done)


def test_replay_writes_the_captured_buffers(runtime, device_tensors):
    x = device_tensors(1.0)
    trace, y = _captured(runtime, x)
    assert y.value is None, "a captured op must not compute"
    for value in (2.0, 3.5):
        ttnn.copy_host_to_device_tensor(ttnn.from_torch(torch.full((1, 1, 32, 32), value), dtype=ttnn.bfloat16,
                                                        layout=ttnn.TILE_LAYOUT), x, cq_id=COMPUTE_QUEUE)
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE, blocking=False)
        assert torch.equal(ttnn.to_torch(y).float(), torch.full((1, 1, 32, 32), 2 * value))
    ttnn.release_trace(runtime.device, trace)


def test_a_second_queue_write_needs_an_event(runtime, device_tensors):
    x = device_tensors()
    trace, _ = _captured(runtime, x)
    host = ttnn.from_torch(torch.ones(1, 1, 32, 32), dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)
    ttnn.copy_host_to_device_tensor(host, x, cq_id=INPUT_QUEUE)
    with pytest.raises(RuleViolation, match="without waiting for an event"):
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    ttnn.wait_for_event(COMPUTE_QUEUE, ttnn.record_event(runtime.device, INPUT_QUEUE))
    ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    ttnn.copy_host_to_device_tensor(host, x, cq_id=INPUT_QUEUE)
    stale = ttnn.record_event(runtime.device, COMPUTE_QUEUE)  # an event on the wrong queue orders nothing
    ttnn.wait_for_event(COMPUTE_QUEUE, stale)
    with pytest.raises(RuleViolation, match="without waiting for an event"):
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    with pytest.raises(RuleViolation, match="does not exist"):
        ttnn.copy_host_to_device_tensor(host, x, cq_id=ttnn.QueueId(2))
    ttnn.release_trace(runtime.device, trace)


def test_trace_lifecycle_is_enforced(runtime, device_tensors):
    x = device_tensors()
    trace = ttnn.begin_trace_capture(runtime.device, cq_id=COMPUTE_QUEUE)
    ttnn.add(x, x)
    with pytest.raises(RuleViolation, match="before end_trace_capture|inside trace capture"):
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    with pytest.raises(RuleViolation, match="capture in progress"):
        ttnn.end_trace_capture(runtime.device, trace + 1, cq_id=COMPUTE_QUEUE)
    ttnn.end_trace_capture(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    ttnn.release_trace(runtime.device, trace)
    with pytest.raises(RuleViolation, match="does not exist"):
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)


def test_a_trace_input_freed_after_capture_is_refused(runtime, device_tensors):
    x = device_tensors()
    trace, _ = _captured(runtime, x)
    del x
    with pytest.raises(RuleViolation, match="freed after its capture"):
        ttnn.execute_trace(runtime.device, trace, cq_id=COMPUTE_QUEUE)
    ttnn.release_trace(runtime.device, trace)


def test_the_traced_call_takes_the_memory_of_the_eager_call():
    """Buffers the capture freed are free again: the steady-state traced call peaks no higher in DRAM or L1 than the
    eager call, at full size."""
    config = policy_config("pi0")
    traced, eager = dry_run(config, "n150", 3, traced=True), dry_run(config, "n150", 3, traced=False)
    for name in ("vision", "prefix", "step 0", "whole call"):
        t, e = traced.stage(name), eager.stage(name)
        assert t.peak_dram <= e.peak_dram and t.peak_l1 <= e.peak_l1, (name, t, e)
    replayed = [r for r in traced.log.entries if r.kind == "op"]
    assert replayed and all(r.traced for r in replayed)
    assert not any(r.traced for r in eager.log.entries)
    print(f"pi0 n150 3 cameras, whole call: traced peak DRAM {traced.stage('whole call').peak_dram:,} B, eager "
          f"{eager.stage('whole call').peak_dram:,} B")
