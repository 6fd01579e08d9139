"""Requests from every connection, queued and run in batches on one worker thread.

When the worker becomes free it takes the oldest waiting request and, up to max_batch, every other waiting request
that can share its sample_actions call (equal batch_key); the rest keep their places. A batch therefore forms only
from requests that are already waiting, so batching adds no latency; batch_wait_s > 0 additionally holds a batch
that is not full for that long to let more requests join. The model runs off the event loop, so connections keep
being served (errors, metadata, pings) during inference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from loguru import logger

from .requests import PolicyRequest


class ServerBusy(RuntimeError):
    """The queue is full."""


@dataclass(eq=False)  # compared by identity: requests hold arrays
class _Pending:
    request: PolicyRequest
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, run_batch: Callable[[list[PolicyRequest]], list], max_batch: int = 4,
                 batch_wait_s: float = 0.0, max_queue: int = 64):
        if max_batch < 1 or max_queue < 1 or batch_wait_s < 0:
            raise ValueError(f"max_batch and max_queue must be >= 1 and batch_wait_s >= 0, got {max_batch}, "
                             f"{max_queue}, {batch_wait_s}")
        self.run_batch, self.max_batch, self.max_queue = run_batch, max_batch, max_queue
        self.batch_wait_s = batch_wait_s
        self._waiting: list[_Pending] = []
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")

    async def submit(self, request: PolicyRequest) -> tuple[object, float]:
        """The request's outcome (from run_batch) and the seconds it waited before its batch started."""
        if len(self._waiting) >= self.max_queue:
            raise ServerBusy(f"{len(self._waiting)} requests are already queued (limit {self.max_queue}); retry later")
        pending = _Pending(request, asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        self._arrived.set()
        return await pending.future

    def _take_batch(self) -> list[_Pending]:
        key = self._waiting[0].request.batch_key
        batch = [p for p in self._waiting if p.request.batch_key == key][:self.max_batch]
        taken = {id(p) for p in batch}
        self._waiting = [p for p in self._waiting if id(p) not in taken]
        if not self._waiting:
            self._arrived.clear()
        return batch

    async def run(self) -> None:
        """Serve batches until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            if self.batch_wait_s and len(self._waiting) < self.max_batch:
                await asyncio.sleep(self.batch_wait_s)
            batch = [p for p in self._take_batch() if not p.future.cancelled()]
            if not batch:
                continue
            started = time.perf_counter()
            try:
                outcomes = await loop.run_in_executor(self._executor, self.run_batch, [p.request for p in batch])
            except Exception as err:  # a bug, not a bad request: every request of the batch learns it
                logger.exception("batch of {} failed", len(batch))
                outcomes = [err] * len(batch)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if not pending.future.cancelled():
                    pending.future.set_result((outcome, started - pending.queued_at))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
