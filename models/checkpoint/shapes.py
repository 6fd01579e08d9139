"""Sizes read off tensor shapes, and the rule for config.json values that disagree with them: the shapes win,
and a warning says so."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from loguru import logger

from .errors import CheckpointError


class Shapes:
    """Our parameter names -> shapes, with errors that name the checkpoint key behind a name."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], describe: Callable[[str], str]):
        self._shapes, self.describe = shapes, describe
        self.read: dict[str, str] = {}  # what each inferred size was read from, for error messages

    def has(self, name: str) -> bool:
        return name in self._shapes

    def get(self, name: str, ndim: int) -> tuple[int, ...]:
        """The shape of `name`, which must have `ndim` positive sizes."""
        if name not in self._shapes:
            raise CheckpointError(f"cannot infer the architecture: missing {self.describe(name)}")
        shape = self._shapes[name]
        if len(shape) != ndim or min(shape, default=1) <= 0:
            raise CheckpointError(f"cannot infer the architecture: {self.describe(name)} has shape {list(shape)}, "
                                  f"expected {ndim} positive sizes")
        return shape

    def depth(self, prefix: str) -> int:
        """Number of layers `prefix<N>.`: one more than the largest N."""
        found = {int(m.group(1)): k for k in self._shapes if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
        if not found:
            raise CheckpointError(f"cannot infer the architecture: no layers under {prefix!r}")
        depth = max(found) + 1
        self.read[f"{prefix}* depth {depth}"] = self.describe(found[depth - 1])
        return depth

    def evidence(self) -> str:
        """Where the inferred sizes came from: appended to errors about sizes that do not fit together."""
        return "; ".join(f"{what} from {source}" for what, source in self.read.items())


def reconcile(notes: list[str], what: str, stated: object, found: object) -> None:
    """Record (and log) a config.json value that disagrees with the tensors; the tensors' value is the one used."""
    if stated is not None and stated != found:
        message = f"{what}={stated!r} disagrees with the tensors ({found!r}): using the tensors"
        logger.warning(message)
        notes.append(message)


def config_int(config: dict, key: str, notes: list[str], where: str = "config.json") -> int | None:
    """A positive integer from config.json, None when absent; other values are noted and ignored."""
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    message = f"{where} {key}={value!r} is not a positive integer: ignored"
    logger.warning(message)
    notes.append(message)
    return None


def config_float(config: dict, key: str, notes: list[str], where: str = "config.json") -> float | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    message = f"{where} {key}={value!r} is not a positive number: ignored"
    logger.warning(message)
    notes.append(message)
    return None
