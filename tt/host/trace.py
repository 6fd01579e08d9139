"""Trace capture and replay, and two command queues, on the host path -- enforced as a device enforces them.

tt-metal's trace (ttnn.begin_trace_capture / end_trace_capture / execute_trace) records the commands of the ops
issued between begin and end against fixed device buffers, without running them, and replays them on execute_trace
with no host dispatch. So here:
- capture records each op call with its argument and result buffers; the ops are checked and sized but not computed
  (their results hold no value until a replay writes them);
- a host write (from_torch / to_device / copy_host_to_device_tensor) or read (to_torch / from_device) inside a capture
  raises, as does allocating a buffer outside an op (an upload) -- the trace could not replay them;
- replay re-executes the recorded calls in order, writing every result into the buffer recorded for it (the trace
  refers to buffers weakly, so memory is booked as on the device: what the capture freed is free);
- two command queues order their work by events: work on a queue may read a buffer written on the other queue only
  after an event recorded there after the write and waited for on this queue (ttnn.record_event / wait_for_event).

The trace region is carved out of DRAM when the device opens (DeviceSpec-independent: TRACE_REGION_BYTES, the
trace_region_size tt-metal's pi0 port opens its device with, models/experimental/pi0/tests/perf/test_perf_e2e.py).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from tt.host.errors import RuleViolation
from tt.host.tensor import HostTensor

TRACE_REGION_BYTES = 80_000_000
COMMAND_QUEUES = 2


@dataclass(frozen=True)
class _Slot:
    """A buffer a captured call reads or writes, by its order of first use in the trace."""
    index: int


@dataclass
class TraceEntry:
    op: object  # the real ttnn FastOperation
    args: tuple  # with every HostTensor replaced by its _Slot
    kwargs: dict
    result: object
    sections: tuple[str, ...] = ()  # the op-log sections it was captured in (a replay records it in them)
    call_site: str = ""


@dataclass
class _Trace:
    """A trace refers to its buffers weakly, as a device trace holds addresses: a buffer the model drops during the
    capture is free again (its booking ends), and a replay holds one only from the call writing it to its last
    reader, so a replay takes the memory the capture took."""
    cq_id: int
    entries: list[TraceEntry] = field(default_factory=list)
    complete: bool = False
    slots: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)  # buffer -> _Slot
    buffers: list[weakref.ref] = field(default_factory=list)  # by slot index
    last_use: list[int] = field(default_factory=list)  # by slot index: the last entry reading or writing it

    def slotted(self, value, entry: int):
        if isinstance(value, HostTensor):
            slot = self.slots.get(value)
            if slot is None:
                slot = self.slots[value] = _Slot(len(self.buffers))
                self.buffers.append(weakref.ref(value))
                self.last_use.append(entry)
            self.last_use[slot.index] = entry
            return slot
        if isinstance(value, dict):
            return {k: self.slotted(v, entry) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.slotted(v, entry) for v in value)
        return value


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

    def record(self, op, args, kwargs, result, sections: tuple[str, ...], call_site: str) -> None:
        """One op call issued during the capture."""
        trace = self._traces[self.capturing]
        at = len(trace.entries)
        trace.entries.append(TraceEntry(op, trace.slotted(args, at), trace.slotted(kwargs, at),
                                        trace.slotted(result, at), sections, call_site))

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

    def replay(self, trace_id: int, cq_id, run: Callable[[TraceEntry, tuple, dict], object]) -> None:
        """execute_trace: `run(entry, args, kwargs)` computes each captured call again on its buffers; a result is
        written into the buffer captured for it while that buffer lives, else held until its last reader."""
        self.forbid_in_capture("execute_trace")
        trace, cq = self._trace(trace_id), self._queue(cq_id)
        if not trace.complete:
            raise RuleViolation(f"execute_trace of trace {trace_id} before end_trace_capture")
        held: dict[int, HostTensor] = {}

        def buffer(slot: _Slot) -> HostTensor:
            live = trace.buffers[slot.index]()
            if live is not None:
                self.check_readable(live, cq)
                return live
            if slot.index not in held:
                raise RuleViolation(f"trace {trace_id} reads a buffer that was freed after its capture: the trace "
                                    "still holds its address, so keep a trace's input buffers until it is released")
            return held[slot.index]

        for at, entry in enumerate(trace.entries):
            result = run(entry, _resolved(entry.args, buffer), _resolved(entry.kwargs, buffer))
            for slot, fresh in zip(_slots_in(entry.result), _tensors_in(result), strict=True):
                live = trace.buffers[slot.index]()
                if live is None:
                    held[slot.index] = fresh
                elif live is not fresh and fresh.value is not None:
                    live.assign(fresh.value)
            for index in [i for i in held if trace.last_use[i] == at]:
                del held[index]
        self._issued[cq] += 1

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


def _resolved(value, buffer: Callable[[_Slot], HostTensor]):
    if isinstance(value, _Slot):
        return buffer(value)
    if isinstance(value, dict):
        return {k: _resolved(v, buffer) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_resolved(v, buffer) for v in value)
    return value


def _slots_in(value):
    if isinstance(value, _Slot):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _slots_in(item)


def _tensors_in(value):
    if isinstance(value, HostTensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors_in(item)
