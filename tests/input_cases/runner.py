"""One bad or unusual input, what a user should get for it, and what they got.

A case passes when its outcome is the expected one:
- "error": a ValueError (the demo CLI: SystemExit with a one-line message, no traceback) whose message contains
  every `mentions` string (the field, camera or file, and what was expected or found);
- "warning": no exception and exactly one warning logged, containing every `mentions` string;
- "ok": no exception and no warning (an input converted where the conversion is unambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from loguru import logger

EXPECTATIONS = ("error", "warning", "ok")


@dataclass(frozen=True)
class Case:
    area: str  # the entry point: "Observation", "sample_actions", "make_observation", "load_stats", "demo CLI", ...
    what: str
    expect: str
    mentions: tuple[str, ...]
    run: Callable[[object], object]  # takes the cases' Env

    def __post_init__(self):
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"case {self.name!r}: expect must be one of {EXPECTATIONS}, got {self.expect!r}")

    @property
    def name(self) -> str:
        return f"{self.area}: {self.what}"


@dataclass(frozen=True)
class Outcome:
    got: str  # "error", "warning", "ok", "unclear error", "unclear warning", "silent", "traceback"
    detail: str

    def passes(self, case: Case) -> bool:
        return self.got == case.expect


def _clear_error(case: Case, err: BaseException) -> bool:
    if isinstance(err, SystemExit):
        message = str(err.code)
        return "\n" not in message and all(m in message for m in case.mentions)
    return isinstance(err, ValueError) and all(m in str(err) for m in case.mentions)


def run_case(case: Case, env) -> Outcome:
    """Runs the case with warnings captured; never raises for what the case's input causes."""
    env.reset_warnings()
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        case.run(env)
    except (Exception, SystemExit) as err:  # noqa: BLE001 (classifying whatever the input causes is the point)
        text = f"{type(err).__name__}: {err.code if isinstance(err, SystemExit) else err}"
        if case.expect == "error" and _clear_error(case, err):
            return Outcome("error", text)
        return Outcome("unclear error" if isinstance(err, (ValueError, SystemExit)) else "traceback", text)
    finally:
        logger.remove(sink)
    if not warnings:
        return Outcome("silent" if case.expect != "ok" else "ok", "no error, no warning")
    joined = " | ".join(warnings)
    if len(warnings) == 1 and all(m in warnings[0] for m in case.mentions) and case.expect == "warning":
        return Outcome("warning", joined)
    return Outcome("unclear warning", joined)
