"""Durability for a data directory: write-ahead log with group commit, snapshots, crash recovery.

Files in the directory:

* ``snapshot.json``: ``{"format":1,"seq":S,"state":{...},"crc32":C}`` plus a newline, where
  ``state`` is the full State after every record with seq <= S and ``C`` is the CRC32 of the
  exact bytes of ``state``. Replaced atomically (temp file, fsync, rename, fsync directory).
* ``wal-<seq of its first record, 20 digits>.log``: records, each framed as a 4-byte big-endian
  payload length, a 4-byte big-endian CRC32 of the payload, then the payload: compact UTF-8
  JSON (lone surrogates allowed) of the caller's record plus the journal's ``"seq"``.
* ``lock``: holds an exclusive ``flock`` while a Journal has the directory open.

Seqs are contiguous. Recovery loads the snapshot and replays logged records with seq > S, in
order. Only the newest log may end in a torn or corrupt record (a write that was never
acknowledged): it is truncated away. Any other damage raises JournalError rather than
silently dropping acknowledged writes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import struct
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from focuscli.server import bigjson

if sys.platform != "win32":
    import fcntl

State: TypeAlias = dict[str, dict[str, Any]]  # namespace -> {"data": node, "rules": str | None}
Record: TypeAlias = dict[str, Any]
Apply: TypeAlias = Callable[[State, Record], None]
SnapshotProvider: TypeAlias = Callable[[], tuple[int, State]]

DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024
SNAPSHOT_NAME = "snapshot.json"
_SNAPSHOT_TMP = "snapshot.json.tmp"
_SNAPSHOT_FORMAT = 1
_LOCK_NAME = "lock"
_WAL_NAME = re.compile(r"wal-([0-9]{20})\.log")
_HEADER = struct.Struct(">II")  # payload length, CRC32 of payload


class JournalError(RuntimeError):
    """The journal cannot be trusted: damaged files at open, or a failed write since."""


class JournalStalled(JournalError):
    """The disk is full (or over quota): writes are refused until the directory takes data
    again, which the journal checks by itself every RETRY_S; nothing durable was lost."""


# A write refused for want of space leaves the log as it was once the torn tail is cut off, so
# the journal can wait for space instead of failing for good. Anything else (an I/O error, a
# failed fsync, whose data the kernel may have dropped) is a failure until restart.
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
RETRY_S = 0.5  # while stalled: how often to check whether the directory takes data again
PROBE_BYTES = 65536  # written, fsynced and removed to check that it does
_PROBE_NAME = "probe.tmp"


# ---------------------------------------------------------------------------------------------
# encoding and framing


def _encode(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes | memoryview) -> Any:
    return json.loads(str(data, "utf-8", "surrogatepass"))


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _frame_end(data: bytes, pos: int) -> int | None:
    """End offset of an intact frame starting at ``pos``; None if it is torn or corrupt."""
    if pos < 0 or pos + _HEADER.size > len(data):
        return None
    length: int
    crc: int
    length, crc = _HEADER.unpack_from(data, pos)
    start, end = pos + _HEADER.size, pos + _HEADER.size + length
    if length == 0 or end > len(data) or zlib.crc32(memoryview(data)[start:end]) != crc:
        return None
    return end


def _intact_frame_after(data: bytes, pos: int) -> bool:
    """True if an intact frame starts anywhere after ``pos`` (every payload opens with '{"')."""
    hit = data.find(b'{"', pos + 1 + _HEADER.size)
    while hit != -1:
        if _frame_end(data, hit - _HEADER.size) is not None:
            return True
        hit = data.find(b'{"', hit + 1)
    return False


def _decode_record(data: bytes, start: int, end: int, path: Path) -> Record:
    try:
        record = _decode(memoryview(data)[start:end])
    except ValueError:
        record = None
    if not isinstance(record, dict) or type(record.get("seq")) is not int:
        raise JournalError(f"{path}: record at byte {start} has a valid checksum but is malformed")
    return record


# ---------------------------------------------------------------------------------------------
# files


def _wal_path(directory: Path, first_seq: int) -> Path:
    return directory / f"wal-{first_seq:020d}.log"


def _wal_files(directory: Path) -> list[tuple[int, Path]]:
    """(first seq, path) of every log in ``directory``, oldest first."""
    matches = (_WAL_NAME.fullmatch(name) for name in os.listdir(directory))
    return sorted((int(m[1]), directory / m[0]) for m in matches if m)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # directories cannot be opened there; NTFS orders metadata itself
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    if sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(f"{directory} is in use by another focus serve") from None
    return fd


def _snapshot_envelope(seq: int, crc: int) -> tuple[bytes, bytes]:
    return b'{"format":%d,"seq":%d,"state":' % (_SNAPSHOT_FORMAT, seq), b',"crc32":%d}\n' % crc


def _write_snapshot(directory: Path, seq: int, state: State) -> None:
    # Encoded piece by piece (the json module's C encoder would hold the GIL, and so stall the
    # server's event loop, for as long as it takes to encode the whole database).
    temp = directory / _SNAPSHOT_TMP
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, _snapshot_envelope(seq, 0)[0])
        crc = 0
        for piece in bigjson.pieces(state, strict=True):
            data = piece.encode("utf-8", "surrogatepass")
            crc = zlib.crc32(data, crc)
            _write_all(fd, data)
        _write_all(fd, _snapshot_envelope(seq, crc)[1])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, directory / SNAPSHOT_NAME)
    _fsync_dir(directory)


def _load_snapshot(path: Path) -> tuple[int, State]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, {}

    def damaged(reason: str) -> JournalError:
        return JournalError(f"{path}: snapshot is damaged ({reason}); refusing to start without it")

    try:
        doc = _decode(data)
    except ValueError as exc:
        raise damaged(f"not JSON: {exc}") from None
    fields = doc if isinstance(doc, dict) else {}
    seq, crc, state = fields.get("seq"), fields.get("crc32"), fields.get("state")
    if not (
        type(seq) is int
        and type(crc) is int
        and isinstance(state, dict)
        and all(isinstance(entry, dict) for entry in state.values())
    ):
        raise damaged("unexpected layout")
    head, tail = _snapshot_envelope(seq, crc)
    body = memoryview(data)[len(head) : len(data) - len(tail)]
    if not (data.startswith(head) and data.endswith(tail)) or zlib.crc32(body) != crc:
        raise damaged("checksum mismatch")
    return seq, state


def _recover(directory: Path, apply: Apply) -> tuple[State, int, list[Path], int]:
    """State from the snapshot plus later logged records.

    Returns the state, the last seq, the logs wholly covered by the snapshot (safe to delete)
    and the byte size of the other logs.
    """
    snapshot_seq, state = _load_snapshot(directory / SNAPSHOT_NAME)
    last_seq, previous = snapshot_seq, -1
    covered: list[Path] = []
    log_bytes = 0
    logs = _wal_files(directory)
    for index, (first_seq, path) in enumerate(logs):
        data = path.read_bytes()
        pos, newest = 0, -1
        while (end := _frame_end(data, pos)) is not None:
            record = _decode_record(data, pos + _HEADER.size, end, path)
            seq = record["seq"]
            if seq <= previous or (newest < 0 and seq != first_seq):
                raise JournalError(f"{path}: record {seq} at byte {pos} is out of order")
            if seq > snapshot_seq:
                if seq != last_seq + 1:
                    raise JournalError(f"{path}: records {last_seq + 1} to {seq - 1} are missing")
                try:
                    apply(state, record)
                except Exception as exc:
                    raise JournalError(f"{path}: cannot replay record {seq}: {exc!r}") from exc
                last_seq = seq
            previous = newest = seq
            pos = end
        if pos < len(data):
            if index < len(logs) - 1:
                raise JournalError(f"{path}: damaged record at byte {pos} in a sealed log")
            if _intact_frame_after(data, pos):
                raise JournalError(
                    f"{path}: damaged record at byte {pos} is followed by intact records; "
                    "refusing to drop them"
                )
            _truncate(path, pos)  # a torn tail: never fsynced, so never acknowledged
        if newest <= snapshot_seq:
            covered.append(path)
        else:
            log_bytes += pos
    return state, last_seq, covered, log_bytes


# ---------------------------------------------------------------------------------------------
# the journal


class Journal:
    """Append-only durable record log of one data directory, written by a background thread."""

    def __init__(
        self,
        directory: Path,
        last_seq: int,
        log_bytes: int,
        lock_fd: int,
        snapshot_provider: SnapshotProvider,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None] | None,
        compact_bytes: int,
        on_recovered: Callable[[], None] | None = None,
    ) -> None:
        self._dir = directory
        self._seq = self._durable_seq = last_seq
        self._log_bytes = log_bytes
        self._lock_fd = lock_fd
        self._snapshot_provider = snapshot_provider
        self._on_durable = on_durable
        self._on_error = on_error
        self._compact_bytes = compact_bytes
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._closing = False
        self._failure: BaseException | None = None
        self._stalled: JournalStalled | None = None
        self._on_recovered = on_recovered
        self._compactions_requested = self._compactions_done = 0
        self._wal_fd, self._wal_path, self._wal_size = -1, directory, 0
        self._thread = threading.Thread(target=self._run, name="focus-journal", daemon=True)

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        apply: Apply,
        snapshot_provider: SnapshotProvider,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None] | None = None,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
        on_recovered: Callable[[], None] | None = None,
    ) -> tuple[Journal, State]:
        """Recover the directory (created 0700 if missing) and start journaling after it.

        ``apply(state, record)`` replays one record (it carries its ``"seq"``) into the state.
        From the writer thread: ``on_durable(seq)`` once every record up to ``seq`` is on disk;
        ``snapshot_provider()`` -> ``(seq, state)`` covering exactly the records <= seq, during
        compaction (never before the first append or compact call); ``on_error(exc)`` if a
        write fails, after which the journal refuses appends. Raises JournalError if the
        files are damaged beyond a torn tail, or another journal holds the directory.

        Out of space (SPACE_ERRNOS while writing): the unwritten records are dropped (they were
        never durable, so never acknowledged), the log is cut back to its durable length,
        ``on_error`` gets a JournalStalled and appends raise it; once a probe write succeeds
        (checked every RETRY_S) appends are taken again and ``on_recovered()`` is called.
        """
        if compact_bytes <= 0:
            raise ValueError("compact_bytes must be positive")
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = _lock_directory(path)
        journal: Journal | None = None
        try:
            (path / _SNAPSHOT_TMP).unlink(missing_ok=True)
            (path / _PROBE_NAME).unlink(missing_ok=True)
            state, last_seq, covered, log_bytes = _recover(path, apply)
            journal = cls(
                path, last_seq, log_bytes, lock_fd,
                snapshot_provider, on_durable, on_error, compact_bytes, on_recovered,
            )  # fmt: skip
            journal._open_wal(last_seq + 1)  # an existing file of that name is empty
            for stale in covered:
                if stale != journal._wal_path:
                    stale.unlink()
            _fsync_dir(path)
            journal._thread.start()
        except BaseException:
            if journal is not None and journal._wal_fd >= 0:
                os.close(journal._wal_fd)
            os.close(lock_fd)
            raise
        return journal, state

    @property
    def seq(self) -> int:
        """The last seq assigned by append (or recovered)."""
        return self._seq

    @property
    def durable_seq(self) -> int:
        """The last seq known to be on disk."""
        return self._durable_seq

    def append(self, record: Record) -> int:
        """Queue ``record`` and return its seq at once; on_durable reports when it is on disk."""
        if "seq" in record:
            raise ValueError("a journal record must not carry its own 'seq'")
        with self._cond:
            self._check_usable()
            seq = self._seq + 1
            self._pending.append(_frame(_encode({**record, "seq": seq})))
            self._seq = seq
            self._cond.notify()
        return seq

    def append_encoded(self, record: bytes) -> int:
        """``append`` for a record already encoded as compact JSON (an object, without "seq")."""
        if not (record.startswith(b"{") and record.endswith(b"}")) or len(record) < 3:
            raise ValueError("an encoded journal record must be a non-empty JSON object")
        with self._cond:
            self._check_usable()
            seq = self._seq + 1
            self._pending.append(_frame(record[:-1] + b',"seq":%d}' % seq))
            self._seq = seq
            self._cond.notify()
        return seq

    def compact(self) -> None:
        """Write a snapshot and delete the logs it covers; blocks until done."""
        with self._cond:
            self._check_usable()
            self._compactions_requested += 1
            ticket = self._compactions_requested
            self._cond.notify()
            while self._compactions_done < ticket and self._failure is None and self._stalled is None:
                self._cond.wait()
            if self._compactions_done < ticket:
                self._check_usable()  # raises the writer's failure

    def close(self) -> None:
        """Write and fsync everything queued (reporting it via on_durable), then stop. Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        os.close(self._lock_fd)
        if self._failure is not None:
            raise JournalError("journal failed; recent writes may be lost") from self._failure

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise JournalError("journal failed; writes are not durable") from self._failure
        if self._stalled is not None:
            raise JournalStalled(str(self._stalled)) from self._stalled.__cause__
        if self._closing:
            raise JournalError("the journal is closed")

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def stalled(self) -> JournalStalled | None:
        """Why appends are refused until the disk has space again (None: they are not)."""
        return self._stalled

    # -- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not (
                        self._pending
                        or self._closing
                        or self._compactions_requested > self._compactions_done
                    ):
                        self._cond.wait()
                    batch, self._pending = self._pending, []
                    batch_seq, closing = self._seq, self._closing
                    wanted = self._compactions_requested
                out_of_space: OSError | None = None
                if batch:
                    data = b"".join(batch)
                    del batch
                    try:
                        _write_all(self._wal_fd, data)
                    except OSError as exc:
                        os.ftruncate(self._wal_fd, self._wal_size)  # cut the torn tail off
                        if exc.errno not in SPACE_ERRNOS or closing:
                            raise
                        out_of_space = exc
                    else:
                        os.fsync(self._wal_fd)  # a failure here is for good (see SPACE_ERRNOS)
                        self._wal_size += len(data)
                        self._log_bytes += len(data)
                        self._durable_seq = batch_seq
                        self._on_durable(batch_seq)
                compact = wanted > self._compactions_done or self._log_bytes >= self._compact_bytes
                if out_of_space is None and compact:
                    try:  # every record is durable here: a snapshot that does not fit can wait
                        self._compact()
                    except OSError as exc:
                        if exc.errno not in SPACE_ERRNOS or closing:
                            raise
                        out_of_space = exc
                    else:
                        with self._cond:
                            self._compactions_done = wanted
                            self._cond.notify_all()
                if out_of_space is not None:
                    if not self._wait_for_space(out_of_space):
                        return  # closed while waiting
                    continue
                if closing:
                    return
        except BaseException as exc:
            with self._cond:
                self._failure = exc
                self._cond.notify_all()
            if self._on_error is not None:
                self._on_error(exc)
        finally:
            os.close(self._wal_fd)

    def _wait_for_space(self, exc: OSError) -> bool:
        """Out of space: drop what is not on disk, refuse appends, and wait (checking every
        RETRY_S) until the directory takes data again. False if the journal closes first."""
        if exc.errno == errno.EDQUOT:
            stalled = JournalStalled(f"the disk quota is used up for the data directory {self._dir}")
        else:
            stalled = JournalStalled(f"no space left on the disk of the data directory {self._dir}")
        stalled.__cause__ = exc
        with contextlib.suppress(OSError):
            (self._dir / _SNAPSHOT_TMP).unlink(missing_ok=True)
        with self._cond:
            self._stalled = stalled
            self._pending = []
            self._seq = self._durable_seq  # the dropped records' seqs are given out again
            self._compactions_done = self._compactions_requested
            self._cond.notify_all()
        if self._on_error is not None:
            self._on_error(stalled)
        while True:
            with self._cond:
                if self._closing:
                    return False
                self._cond.wait(RETRY_S)
                if self._closing:
                    return False
            if self._takes_data():
                break
        with self._cond:
            self._stalled = None
        if self._on_recovered is not None:
            self._on_recovered()
        return True

    def _takes_data(self) -> bool:
        """Whether a probe of PROBE_BYTES can be written and fsynced in the directory."""
        probe = self._dir / _PROBE_NAME
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, b"\0" * PROBE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
        return True

    def _open_wal(self, first_seq: int) -> None:
        path = _wal_path(self._dir, first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self._dir)
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
        self._wal_fd, self._wal_path, self._wal_size = fd, path, os.fstat(fd).st_size

    def _compact(self) -> None:
        """Rotate to a fresh log, write a snapshot, then delete the logs it covers."""
        written = self._durable_seq
        sealed = [path for _, path in _wal_files(self._dir) if path != self._wal_path]
        if self._wal_size:
            sealed.append(self._wal_path)
            self._open_wal(written + 1)
        seq, state = self._snapshot_provider()
        if not written <= seq <= self._seq:
            raise JournalError(
                f"snapshot_provider returned seq {seq}, outside the range {written}..{self._seq}"
            )
        _write_snapshot(self._dir, seq, state)
        for path in sealed:
            path.unlink(missing_ok=True)
        _fsync_dir(self._dir)
        self._log_bytes = self._wal_size
