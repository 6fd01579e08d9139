"""sample_actions' device part captured once per input signature (tt.staging) and replayed.

The first call with a signature runs eagerly (on a card it compiles every kernel); the second uploads its inputs into
buffers kept for that signature, captures the device part into a trace and executes it; from then on a call writes
its inputs into those buffers on command queue 1, orders queue 0 after the writes with an event, and replays the trace
on queue 0 with no host dispatch per op. The actions are then read once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tt.common import upload
from tt.ops import ttnn
from tt.staging import StagedCall

COMPUTE_QUEUE, INPUT_QUEUE = ttnn.QueueId(0), ttnn.QueueId(1)


@dataclass
class _Trace:
    buffers: dict  # input name -> device tensor
    output: object
    trace_id: object


class TracedCalls:
    def __init__(self, runtime):
        self.runtime = runtime
        self._compiled: set[tuple] = set()
        self._traces: dict[tuple, _Trace] = {}

    def _upload(self, staged: StagedCall) -> dict:
        return {name: upload(self.runtime, i.tensor, i.dtype, i.layout) for name, i in staged.inputs.items()}

    def run(self, staged: StagedCall, device_part: Callable[[dict, StagedCall], object]):
        """The device part's output for these inputs: eager, captured or replayed, as above."""
        signature, device = staged.signature, self.runtime.device
        trace = self._traces.get(signature)
        if trace is None:
            if signature not in self._compiled:
                self._compiled.add(signature)
                return device_part(self._upload(staged), staged)
            buffers = self._upload(staged)
            trace_id = ttnn.begin_trace_capture(device, cq_id=COMPUTE_QUEUE)
            output = device_part(buffers, staged)
            ttnn.end_trace_capture(device, trace_id, cq_id=COMPUTE_QUEUE)
            trace = self._traces[signature] = _Trace(buffers, output, trace_id)
        else:
            for name, staged_input in staged.inputs.items():
                ttnn.copy_host_to_device_tensor(staged_input.host(), trace.buffers[name], cq_id=INPUT_QUEUE)
            ttnn.wait_for_event(COMPUTE_QUEUE, ttnn.record_event(device, INPUT_QUEUE))
        ttnn.execute_trace(device, trace.trace_id, cq_id=COMPUTE_QUEUE, blocking=False)
        return trace.output

    def release(self) -> None:
        for trace in self._traces.values():
            ttnn.release_trace(self.runtime.device, trace.trace_id)
        self._traces.clear()
