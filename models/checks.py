"""Checks shared by every entry point that takes user input, and the one-time warnings they give."""

from __future__ import annotations

import functools

from loguru import logger


@functools.cache
def warn_once(message: str) -> None:
    """Log a warning the first time this exact message comes up in the process (a control loop would repeat it)."""
    logger.warning(message)
