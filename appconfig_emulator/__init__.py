"""A standalone AWS AppConfig control-plane emulator that speaks the real wire protocol (see README.md)."""

from .clock import ManualClock, ScaledClock
from .emulator import Emulator
from .errors import ApiError

__all__ = ["ApiError", "Emulator", "ManualClock", "ScaledClock"]
