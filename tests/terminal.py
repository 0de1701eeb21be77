"""A real terminal for tests: a program on a pseudo-terminal, its output interpreted by pyte (a
pure-Python VT100/xterm emulator, installed by `pip install -e '.[test]'`), so a test reads the
screen as a person sees it, types keys and resizes the window, with no tmux needed."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import pyte

ALT_SCREEN = 1049  # xterm's private mode: the alternate screen (saved and restored by the terminal)


class _Screen(pyte.Screen):  # type: ignore[misc]
    """pyte's screen plus xterm's alternate screen (pyte ignores mode 1049): entering it keeps
    the normal screen aside, leaving it brings the normal screen back as it was."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self._saved: tuple[Any, Any] | None = None

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and ALT_SCREEN in modes and self._saved is None:
            self._saved = (copy.deepcopy(self.buffer), copy.copy(self.cursor))
            self.erase_in_display(2)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and ALT_SCREEN in modes and self._saved is not None:
            buffer, cursor = self._saved
            self._saved = None
            self.buffer.clear()
            self.buffer.update(buffer)
            self.cursor = cursor
            self.dirty.update(range(self.lines))
        super().reset_mode(*modes, **kwargs)


class Terminal:
    """``argv`` running on a pseudo-terminal of ``columns`` x ``lines`` as its controlling
    terminal (so Ctrl-C typed there is SIGINT, as in a shell)."""

    def __init__(self, argv: list[str], env: dict[str, str], *, columns: int = 100, lines: int = 30) -> None:
        self.master, self.slave = os.openpty()
        self._set_size(columns, lines)
        self.screen = _Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        self.raw = bytearray()  # every byte the program wrote, as the terminal received it
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave, stdout=self.slave, stderr=self.slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
            preexec_fn=_controlling_terminal,
        )  # fmt: skip
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name="pty-reader")
        self._reader.start()

    def _set_size(self, columns: int, lines: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            with self.lock:  # read and feed as one step: see _drained
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                self.raw += data
                self.stream.feed(data)

    def text(self) -> str:
        """The screen now, one line per row, trailing blanks removed."""
        with self.lock:
            return "\n".join(line.rstrip() for line in self.screen.display).rstrip("\n")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; the screen shows:\n{text}")
            time.sleep(0.05)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def resize(self, columns: int, lines: int) -> None:
        """As a terminal window does: the new size, and SIGWINCH to the program (the kernel)."""
        with self.lock:
            self.screen.resize(lines, columns)
        self._set_size(columns, lines)

    def wait(self, timeout: float = 15.0) -> int:
        """The program's exit status, once the screen shows everything it wrote; fails after
        ``timeout`` (and kills it)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"the program did not exit within {timeout} s; the screen shows:\n{self.text()}") from None
        finally:
            self._drained(timeout=10.0)

    def _drained(self, timeout: float) -> None:
        """Wait until the reader has fed the screen every byte the exited program wrote: the
        master has nothing left to read (the kernel's poll pushes what is still in the pty's
        buffers first) while the reader, which reads and feeds under the lock, is between reads."""
        deadline = time.monotonic() + timeout
        while self._reader.is_alive():
            with self.lock:
                pending, _, _ = select.select([self.master], [], [], 0)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the screen still had unread output after {timeout} s:\n{self.text()}"
                )
            time.sleep(0.01)

    def canonical(self) -> bool:
        """Whether the terminal is back in canonical (line) mode with echo, as a shell leaves it."""
        lflag = termios.tcgetattr(self.slave)[3]
        return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stop.set()
        self._reader.join(timeout=5)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _controlling_terminal() -> None:
    """In the child, a session leader already: make its stdin (the pty) its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
