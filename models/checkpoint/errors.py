"""The one exception every checkpoint problem ends in."""

from __future__ import annotations

from collections.abc import Sequence

_SHOWN = 200  # problems spelled out in the message; all of them stay in `problems`


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not describe a supported model.

    `problems` holds one line per problem, each naming the tensor or file it is about.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()):
        super().__init__(message)
        self.problems = tuple(problems) or (message,)


def raise_problems(source: object, problems: Sequence[str]) -> None:
    """Raise one CheckpointError listing every problem, if there are any."""
    if not problems:
        return
    lines = [f"\n  {p}" for p in problems[:_SHOWN]]
    if len(problems) > _SHOWN:
        lines.append(f"\n  ... and {len(problems) - _SHOWN} more (CheckpointError.problems has them all)")
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    raise CheckpointError(f"{source}: {count} found before loading:" + "".join(lines), problems)
