"""Trace capture and replay, and two command queues, on the host path -- enforced as a device enforces them.

tt-metal's trace (ttnn.begin_trace_capture / end_trace_capture / execute_trace) records the commands of the ops
issued between begin and end against fixed device buffers, without running them, and replays them on execute_trace
with no host dispatch. So here:
- capture records each op call with its argument and result buffers; the ops are checked and sized but not computed
  (their results hold no value until a replay writes them);
- a host write (from_torch / to_device / copy_host_to_device_tensor) or read (to_torch / from_device) inside a capture
  raises, as does allocating a buffer outside an op (an upload) -- the trace could not replay them;
- replay re-executes the recorded calls in order, writing every result into the buffer recorded for it;
- two command queues order their work by events: work on a queue may read a buffer written on the other queue only
  after an event recorded there after the write and waited for on this queue (ttnn.record_event / wait_for_event).

The trace region is carved out of DRAM when the device opens (DeviceSpec-independent: TRACE_REGION_BYTES, the
trace_region_size tt-metal's pi0 port opens its device with, models/experimental/pi0/tests/perf/test_perf_e2e.py).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from tt.host.errors import RuleViolation
from tt.host.tensor import HostTensor

TRACE_REGION_BYTES = 80_000_000
COMMAND_QUEUES = 2


@dataclass
class TraceEntry:
    op: object  # the real ttnn FastOperation
    args: tuple
    kwargs: dict
    result: object  # the HostTensor(s) the call returned at capture
    sections: tuple[str, ...] = ()  # the op-log sections it was captured in (a replay records it in them)
    call_site: str = ""


@dataclass
class _Trace:
    cq_id: int
    entries: list[TraceEntry] = field(default_factory=list)
    complete: bool = False


@dataclass(frozen=True)
class HostEvent:
    cq_id: int
    sequence: int  # commands issued on that queue before the event
    traces: "HostTraces" = field(compare=False, repr=False)


class HostTraces:
    """The traces and command queues of one HostDevice."""

    def __init__(self):
        self._traces: dict[int, _Trace] = {}
        self._next_id = 0
        self.capturing: int | None = None
        self._issued = [0] * COMMAND_QUEUES  # commands issued per queue
        self._seen = [[0] * COMMAND_QUEUES for _ in range(COMMAND_QUEUES)]  # [q][p]: q waited for p up to
        self._written = weakref.WeakKeyDictionary()  # buffer -> (queue, sequence of its last write)

    def _queue(self, cq_id) -> int:
        cq = 0 if cq_id is None else int(cq_id)
        if not 0 <= cq < COMMAND_QUEUES:
            raise RuleViolation(f"command queue {cq} does not exist: the device has {COMMAND_QUEUES}")
        return cq

    def forbid_in_capture(self, what: str) -> None:
        if self.capturing is not None:
            raise RuleViolation(f"{what} inside trace capture {self.capturing}: a trace records device commands only "
                                "and cannot replay host writes, reads or new allocations; stage them before "
                                "begin_trace_capture or after end_trace_capture")

    def begin(self, cq_id) -> int:
        if self.capturing is not None:
            raise RuleViolation(f"begin_trace_capture while trace {self.capturing} is still being captured")
        trace_id, self._next_id = self._next_id, self._next_id + 1
        self._traces[trace_id] = _Trace(self._queue(cq_id))
        self.capturing = trace_id
        return trace_id

    def record(self, entry: TraceEntry) -> None:
        self._traces[self.capturing].entries.append(entry)

    def end(self, trace_id: int, cq_id) -> None:
        if self.capturing != trace_id:
            raise RuleViolation(f"end_trace_capture of trace {trace_id}, but the capture in progress is "
                                f"{self.capturing}")
        self._trace(trace_id).complete = True
        self.capturing = None

    def _trace(self, trace_id: int) -> _Trace:
        trace = self._traces.get(trace_id)
        if trace is None:
            raise RuleViolation(f"trace {trace_id} does not exist (released, or never captured)")
        return trace

    def entries_to_replay(self, trace_id: int, cq_id) -> list[TraceEntry]:
        """The calls execute_trace re-runs, once the queue may read every buffer the trace reads."""
        self.forbid_in_capture("execute_trace")
        trace, cq = self._trace(trace_id), self._queue(cq_id)
        if not trace.complete:
            raise RuleViolation(f"execute_trace of trace {trace_id} before end_trace_capture")
        for entry in trace.entries:
            for buffer in _buffers((entry.args, entry.kwargs)):
                self.check_readable(buffer, cq)
        self._issued[cq] += 1
        return trace.entries

    def release(self, trace_id: int) -> None:
        self._trace(trace_id)
        del self._traces[trace_id]

    def wrote(self, buffer, cq_id) -> None:
        """A host write into `buffer` on queue cq_id."""
        self.forbid_in_capture("a host write into a device buffer")
        cq = self._queue(cq_id)
        self._issued[cq] += 1
        self._written[buffer] = (cq, self._issued[cq])

    def check_readable(self, buffer, cq: int) -> None:
        written = self._written.get(buffer)
        if written is None:
            return
        writer, sequence = written
        if writer != cq and self._seen[cq][writer] < sequence:
            raise RuleViolation(f"work on command queue {cq} reads a buffer written on command queue {writer} "
                                f"without waiting for an event recorded on queue {writer} after the write "
                                "(ttnn.record_event on the writer's queue, ttnn.wait_for_event on the reader's)")

    def record_event(self, cq_id) -> HostEvent:
        cq = self._queue(cq_id)
        return HostEvent(cq, self._issued[cq], self)

    def wait_for_event(self, cq_id, event: HostEvent) -> None:
        cq = self._queue(cq_id)
        self._seen[cq][event.cq_id] = max(self._seen[cq][event.cq_id], event.sequence)


def _buffers(value):
    if isinstance(value, HostTensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _buffers(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _buffers(item)
