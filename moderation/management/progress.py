"""A plain progress line on stderr for the moderation commands (no extra dependency).

On a terminal the line redraws in place ("\\r"); otherwise (logs, CI) one line is written per
10 % so the output stays short.
"""

from __future__ import annotations

from django.core.management.base import OutputWrapper


class Progress:
    def __init__(self, stream: OutputWrapper, total: int, label: str) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.done = 0
        self.tty = stream.isatty()
        self._last_decile = -1

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.tty:
            self.stream.write(f"\r{self._line()}", ending="")
            self.stream.flush()
            return
        decile = (self.done * 10) // self.total if self.total else 10
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._line())

    def close(self) -> None:
        if self.tty:
            self.stream.write(f"\r{self._line()}")

    def _line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        return f"{self.label} [{bar:<30}] {self.done}/{self.total} ({share:.0%})"
