"""Batching on its own, deterministically: which waiting requests share a call, in what order, and what a full
queue or a failing batch does."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from serve.batcher import Batcher, ServerBusy
from serve.requests import PolicyRequest


def _request(name: str, delay: int | None = None) -> PolicyRequest:
    leftover = None if delay is None else np.zeros((20, 7), np.float32)
    return PolicyRequest(images={}, state=np.zeros(1, np.float32), prompt=name, leftover=leftover,
                         inference_delay=delay or 0, execution_horizon=10)


async def _serve_all(batcher: Batcher, requests: list[PolicyRequest]) -> list:
    """Queue every request first, then start the worker: the batches then depend on nothing but the rules."""
    submitted = [asyncio.create_task(batcher.submit(r)) for r in requests]
    await asyncio.sleep(0)
    worker = asyncio.create_task(batcher.run())
    try:
        return await asyncio.gather(*submitted)
    finally:
        worker.cancel()
        batcher.close()


def test_waiting_requests_share_calls_by_key_up_to_max_batch_in_arrival_order():
    calls = []

    def run_batch(requests):
        calls.append([r.prompt for r in requests])
        return [f"done {r.prompt}" for r in requests]

    requests = [_request("a"), _request("b", delay=3), _request("c"), _request("d"), _request("e", delay=3),
                _request("f", delay=4)]
    results = asyncio.run(_serve_all(Batcher(run_batch, max_batch=2), requests))
    assert calls == [["a", "c"], ["b", "e"], ["d"], ["f"]]
    assert [outcome for outcome, _ in results] == [f"done {r.prompt}" for r in requests]
    assert all(waited >= 0 for _, waited in results)


def test_a_failing_batch_answers_its_requests_and_the_worker_goes_on():
    def run_batch(requests):
        if requests[0].prompt == "boom":
            raise RuntimeError("model fault")
        return ["ok"] * len(requests)

    results = asyncio.run(_serve_all(Batcher(run_batch, max_batch=1), [_request("boom"), _request("fine")]))
    assert isinstance(results[0][0], RuntimeError) and results[1][0] == "ok"


def test_a_full_queue_is_refused():
    async def scenario():
        batcher = Batcher(lambda requests: ["ok"] * len(requests), max_queue=1)
        first = asyncio.create_task(batcher.submit(_request("a")))
        await asyncio.sleep(0)
        with pytest.raises(ServerBusy, match="limit 1"):
            await batcher.submit(_request("b"))
        first.cancel()
        batcher.close()

    asyncio.run(scenario())


def test_bad_batching_settings_are_named():
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(lambda requests: requests, max_batch=0)
