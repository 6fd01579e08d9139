"""The policy server against the real openpi-client 0.1.2 on 127.0.0.1: in-process actions, real-time chunking over
the wire, a bounded load test (printing p50 / p99 latency), and the command itself."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
import torch
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from demo.checkpoint import ROBOT_ACTION_DIM
from models import RealTimeChunking, load_policy
from serve.app import make_server
from serve.server import running_in_thread
from tests.serve.conftest import (MAX_REQUESTS, in_process_actions, in_process_actions_per_seed, libero_observation,
                                  native_observation)

MAX_ABS_ALONE = 1e-6  # a request served alone runs exactly the in-process computation
MAX_ABS_BATCHED = 1e-4  # batched with others: the same math, other summation orders
MIN_RTC_EFFECT = 1e-2
CLIENTS, REQUESTS_PER_CLIENT = 4, 25
LOAD_STEPS = 2  # the load test exercises the serving, not the flow: one camera, two steps
TT_STEPS = 2  # the TT server check: the host execution path is slow, and the flow is checked in tests/tt


def test_openpi_client_gets_in_process_actions(libero_server, served_parts):
    client = WebsocketClientPolicy("127.0.0.1", libero_server.port)
    metadata = client.get_server_metadata()
    assert (metadata["profile"], metadata["action_horizon"], metadata["action_dim"]) == ("libero", 50,
                                                                                         ROBOT_ACTION_DIM)
    observation = libero_observation(1)
    response = client.infer({**observation, "noise_seed": 42})
    actions = response["actions"]
    assert actions.dtype == np.float32 and actions.shape == (50, ROBOT_ACTION_DIM)
    expected = in_process_actions(served_parts, observation, 42)
    assert np.abs(actions - expected).max() <= MAX_ABS_ALONE
    assert response["server_timing"]["infer_ms"] > 0 and response["server_timing"]["queue_ms"] >= 0
    timing = response["policy_timing"]
    assert timing["batch_size"] == 1 and min(timing[k] for k in ("vision_ms", "prefix_ms", "denoise_ms")) > 0
    assert "prev_total_ms" in client.infer({**observation, "noise_seed": 1})["server_timing"]


def test_real_time_chunking_over_the_wire(libero_server, served_parts):
    """The client sends the rows of its previous chunk still to run (robot units) and the delay; the server
    normalises them and guides exactly as sample_actions(rtc=...) does in process."""
    policy, stats, _ = served_parts
    client = WebsocketClientPolicy("127.0.0.1", libero_server.port)
    observation = libero_observation(2)
    previous = client.infer({**observation, "noise_seed": 5})["actions"]
    leftover = previous[12:]  # 38 rows not yet executed
    guided = client.infer({**observation, "noise_seed": 6, "prev_chunk_left_over": leftover,
                           "inference_delay": np.int64(4), "execution_horizon": 25})["actions"]
    padded = torch.zeros(50, policy.config.suffix.action_dim)
    padded[:38, :ROBOT_ACTION_DIM] = stats.action.normalize(torch.tensor(leftover))
    rtc = RealTimeChunking(padded[:38], inference_delay=4, execution_horizon=25)
    expected = in_process_actions(served_parts, observation, 6, rtc=rtc)
    assert np.abs(guided - expected).max() <= MAX_ABS_ALONE
    unguided = in_process_actions(served_parts, observation, 6)
    assert np.abs(guided - unguided).max() > MIN_RTC_EFFECT


@pytest.fixture(scope="module")
def load_server(served_parts):
    policy, stats, tokenizer = served_parts
    server = make_server(policy, tokenizer, stats, profile="native", port=0, max_batch=CLIENTS,
                         num_steps=LOAD_STEPS, max_requests=MAX_REQUESTS)
    with running_in_thread(server):
        yield server


def test_load_loses_and_duplicates_nothing(load_server, served_parts):
    """Every client's every request gets the actions of its own observation and seed (a mix-up, a loss or a
    duplicate would hand someone another request's actions)."""
    observations = [native_observation(100 + c, prompt=f"task {c}") for c in range(CLIENTS)]
    seeds = [[1000 * c + i for i in range(REQUESTS_PER_CLIENT)] for c in range(CLIENTS)]
    results: dict[int, list] = {}
    latencies: list[float] = []
    failures: list[BaseException] = []

    def client_loop(c: int):
        try:
            client = WebsocketClientPolicy("127.0.0.1", load_server.port)
            results[c] = []
            for seed in seeds[c]:
                start = time.perf_counter()
                response = client.infer({**observations[c], "noise_seed": seed})
                latencies.append(time.perf_counter() - start)
                results[c].append((response["actions"], response["policy_timing"]["batch_size"]))
        except BaseException as err:  # surfaced below
            failures.append(err)

    answered_before = load_server.answered
    threads = [threading.Thread(target=client_loop, args=(c,)) for c in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    assert not failures, failures
    assert load_server.answered - answered_before == CLIENTS * REQUESTS_PER_CLIENT
    p50, p99 = np.percentile(np.array(latencies) * 1e3, [50, 99])
    batches = [size for c in results for _, size in results[c]]
    print(f"\n[load] {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests in {wall:.2f} s: latency p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms; batch sizes seen {sorted(set(batches))}, mean {np.mean(batches):.2f}")
    for c in range(CLIENTS):
        expected = in_process_actions_per_seed(served_parts, observations[c], seeds[c], LOAD_STEPS)
        got = np.stack([actions for actions, _ in results[c]])
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= MAX_ABS_BATCHED, f"client {c}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_serves_and_stops_itself(checkpoint, served_parts):
    from serve.__main__ import main

    port = _free_port()
    args = ["--checkpoint", str(checkpoint), "--profile", "libero", "--tokenizer", "none", "--port", str(port),
            "--max-requests", "1"]
    thread = threading.Thread(target=main, args=(args,), daemon=True)
    thread.start()
    client = _connect(port)
    observation = libero_observation(3)
    actions = client.infer({**observation, "noise_seed": 9})["actions"]
    thread.join(timeout=30)
    assert not thread.is_alive(), "the server did not stop after --max-requests"
    assert np.abs(actions - in_process_actions(served_parts, observation, 9)).max() <= MAX_ABS_ALONE


def _connect(port: int, attempts: int = 200) -> WebsocketClientPolicy:
    for _ in range(attempts):
        try:
            return WebsocketClientPolicy("127.0.0.1", port)
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"no server on port {port}")


def test_tt_backend_serves_like_in_process(runtime, checkpoint, served_parts):
    """The same server over the TTNN policy (on the card, or the host execution path): a plain and a real-time
    chunking request answer exactly what the TT policy gives in process."""
    _, stats, tokenizer = served_parts
    tt_policy = load_policy(checkpoint, backend="tt", tt_cache_dir=None)
    tt_parts = (tt_policy, stats, tokenizer)
    observation = libero_observation(4)
    server = make_server(tt_policy, tokenizer, stats, profile="libero", port=0, backend="tt", num_steps=TT_STEPS,
                         max_requests=MAX_REQUESTS)
    with running_in_thread(server):
        client = WebsocketClientPolicy("127.0.0.1", server.port)
        assert client.get_server_metadata()["backend"] == "tt"
        plain = client.infer({**observation, "noise_seed": 8})["actions"]
        leftover = plain[10:]
        guided = client.infer({**observation, "noise_seed": 8, "prev_chunk_left_over": leftover,
                               "inference_delay": 2})["actions"]
    assert np.abs(plain - in_process_actions(tt_parts, observation, 8, num_steps=TT_STEPS)).max() <= MAX_ABS_ALONE
    padded = torch.zeros(40, tt_policy.config.suffix.action_dim)
    padded[:, :ROBOT_ACTION_DIM] = stats.action.normalize(torch.tensor(leftover))
    rtc = RealTimeChunking(padded, inference_delay=2)
    expected = in_process_actions(tt_parts, observation, 8, rtc=rtc, num_steps=TT_STEPS)
    assert np.abs(guided - expected).max() <= MAX_ABS_ALONE
    print(f"[{runtime.label}] TT server: plain and RTC requests equal in-process TT sample_actions")


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "nobody/no-such-policy"], "'nobody/no-such-policy' is neither a preset"),
    (["--checkpoint", "pi0-tiny", "--tokenizer", "none", "--rtc-max-guidance-weight", "0"], "max_guidance_weight > 0"),
    (["--checkpoint", "pi0-tiny", "--tokenizer", "none", "--max-message-mb", "0"], "limits must be positive"),
])
def test_the_command_names_bad_settings(tmp_path, monkeypatch, args, message):
    from serve.__main__ import main

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(SystemExit, match=message):
        main(args)


def test_the_command_names_a_missing_tokenizer(tmp_path, monkeypatch, checkpoint):
    from serve.__main__ import main

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(SystemExit, match="'google/paligemma-3b-pt-224'.*not in the local Hugging Face cache"):
        main(["--checkpoint", str(checkpoint)])
