"""What the host path raises where a card would refuse a call: the op, the argument, the rule, and where in the
model code the call was made (filled in by tt.ops, which knows the caller)."""

from __future__ import annotations


class DeviceRefusal(Exception):
    """A call a Tenstorrent device would refuse."""

    call_site: str | None = None

    def __str__(self) -> str:
        message = super().__str__()
        return message if self.call_site is None else f"{message} [called from {self.call_site}]"


class BindingError(DeviceRefusal, TypeError):
    """The arguments do not fit the op's C++ binding signature."""


class RuleViolation(DeviceRefusal, ValueError):
    """A dtype, layout, shape or resource rule of the device op is broken."""


class NumericsNotModelled(NotImplementedError):
    """Device numerics (tt.host.numerics) have no model for this call's configuration; the message says what."""
