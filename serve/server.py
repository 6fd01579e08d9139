"""The policy server: openpi's websocket protocol, so `openpi_client.websocket_client_policy.WebsocketClientPolicy`
works against it unchanged (facts from openpi `src/openpi/serving/websocket_policy_server.py` and openpi-client
0.1.2):
- on connect the server sends one msgpack map of metadata;
- then every binary msgpack message (an observation dict) gets exactly one reply, in order: a msgpack map with
  "actions" (float32 [horizon, action_dim], robot units), "server_timing" (infer_ms: receipt to reply;
  queue_ms; prev_total_ms: the previous request of this connection, as openpi reports it) and "policy_timing"
  (infer_ms, batch_size and the vision / prefix / denoise stage times of the batch that served it);
- a request that cannot be served gets a text frame naming the problem (openpi-client raises it as a
  RuntimeError); unlike openpi, the connection stays open and the server keeps serving;
- `GET /healthz` answers 200 without a websocket handshake.
Frames larger than Limits.max_message_bytes are refused by the websocket layer (close code 1009, "message too big").
"""

from __future__ import annotations

import asyncio
import http
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import websockets
from loguru import logger
from websockets.asyncio.server import ServerConnection, serve

from . import wire
from .batcher import Batcher, ServerBusy
from .profiles import Profile
from .requests import Expectations, Limits, RequestError, parse_request
from .runner import PolicyRunner

DEFAULT_HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0


def _health_check(connection: ServerConnection, request):
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None


class PolicyServer:
    def __init__(self, runner: PolicyRunner, profile: Profile, expect: Expectations, metadata: dict, *,
                 host: str = DEFAULT_HOST, port: int = 8000, limits: Limits = Limits(), max_batch: int = 4,
                 batch_wait_s: float = 0.0, max_queue: int = 64, max_requests: int | None = None,
                 default_prompt: str | None = None):
        """max_requests: stop after answering that many messages (None: serve until stop())."""
        self.runner, self.profile, self.expect, self.limits = runner, profile, expect, limits
        self.metadata = metadata
        self.host, self.port = host, port
        self.batching = dict(max_batch=max_batch, batch_wait_s=batch_wait_s, max_queue=max_queue)
        self.max_requests, self.default_prompt = max_requests, default_prompt
        self.answered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def serve(self, on_ready=None) -> None:
        """Serve until stop() or max_requests; on_ready() is called once the port is bound (self.port is then
        the real port, also when 0 asked for a free one)."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        batcher = Batcher(self.runner.run, **self.batching)
        worker = asyncio.create_task(batcher.run())
        worker.add_done_callback(self._worker_ended)
        try:
            async with serve(lambda ws: self._connection(ws, batcher), self.host, self.port, compression=None,
                             max_size=self.limits.max_message_bytes, process_request=_health_check) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                logger.info("policy server on ws://{}:{} ({} profile)", self.host, self.port, self.profile.name)
                if on_ready is not None:
                    on_ready()
                await self._stop.wait()
        finally:
            worker.cancel()
            batcher.close()

    def _worker_ended(self, worker: asyncio.Task) -> None:
        if not worker.cancelled() and worker.exception() is not None:
            logger.opt(exception=worker.exception()).error("the batch worker failed: stopping the server")
            self._stop.set()

    def stop(self) -> None:
        """Thread-safe: ask a serving server to stop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def serve_forever(self) -> None:
        asyncio.run(self.serve())

    async def _answer(self, message, batcher: Batcher, received: float, prev_total_ms: float | None):
        try:
            request = parse_request(wire.unpack(message), self.profile, self.expect, self.limits, self.default_prompt)
            outcome, queued_s = await batcher.submit(request)
        except (wire.WireError, RequestError) as err:
            return f"bad request: {err}"
        except ServerBusy as err:
            return f"server busy: {err}"
        except Exception as err:  # a bug, not the client's fault: say so, log it, keep serving
            logger.exception("request failed")
            return f"internal error: {type(err).__name__}: {err}"
        if isinstance(outcome, RequestError):
            return f"bad request: {outcome}"
        if isinstance(outcome, Exception):
            return f"internal error: {type(outcome).__name__}: {outcome}"
        timing = {"infer_ms": (time.perf_counter() - received) * 1e3, "queue_ms": queued_s * 1e3}
        if prev_total_ms is not None:
            timing["prev_total_ms"] = prev_total_ms
        return wire.pack({**outcome, "server_timing": timing})

    async def _connection(self, websocket: ServerConnection, batcher: Batcher) -> None:
        peer = websocket.remote_address
        logger.info("connection from {} opened", peer)
        prev_total_ms = None
        try:
            await websocket.send(wire.pack(self.metadata))
            async for message in websocket:
                received = time.perf_counter()
                reply = await self._answer(message, batcher, received, prev_total_ms)
                self.answered += 1
                await websocket.send(reply)
                prev_total_ms = (time.perf_counter() - received) * 1e3
                if isinstance(reply, str):
                    logger.warning("{}: {}", peer, reply)
                self._stop_at_limit()
        except websockets.ConnectionClosed as closed:
            logger.info("connection from {} closed ({})", peer, closed)

    def _stop_at_limit(self) -> None:
        if self.max_requests is not None and self.answered >= self.max_requests:
            logger.info("answered {} requests (the limit): stopping", self.answered)
            self._stop.set()


@contextmanager
def running_in_thread(server: PolicyServer) -> Iterator[PolicyServer]:
    """Run the server on a background thread for the duration of the block (port bound on entry, stopped and
    joined on exit)."""
    ready, failure = threading.Event(), []

    def target():
        try:
            asyncio.run(server.serve(on_ready=ready.set))
        except BaseException as err:  # handed to the caller below, not lost in the thread
            failure.append(err)
            ready.set()

    thread = threading.Thread(target=target, name="policy-server", daemon=True)
    thread.start()
    if not ready.wait(STARTUP_TIMEOUT_S):
        raise TimeoutError(f"the policy server did not start within {STARTUP_TIMEOUT_S} s")
    if failure:
        raise RuntimeError("the policy server failed to start") from failure[0]
    try:
        yield server
    finally:
        server.stop()
        thread.join(STARTUP_TIMEOUT_S)
