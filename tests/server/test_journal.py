"""The durability layer: round trips, torn tails, corruption, compaction and kill -9."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from focuscli.server.journal import Journal, JournalError, Record, State

pytestmark = pytest.mark.focus_serve

REPO = Path(__file__).resolve().parents[2]
HEADER = struct.Struct(">II")


def apply_record(state: State, record: Record) -> None:
    """What the server does with a record: set rules, or set (None: delete) one child."""
    entry = state.setdefault(record["ns"], {"data": None, "rules": None})
    if "rules" in record:
        entry["rules"] = record["rules"]
        return
    data = dict(entry["data"] or {})
    if record["value"] is None:
        data.pop(record["key"], None)
    else:
        data[record["key"]] = record["value"]
    entry["data"] = data or None


class Store:
    """Plays the server: applies each write in memory and journals it under one lock."""

    def __init__(self, directory: Path, compact_bytes: int = 8 << 20) -> None:
        self.lock = threading.Lock()
        self.durable = threading.Condition()
        self.acks: list[int] = []
        self.errors: list[BaseException] = []
        self.journal, self.state = Journal.open(
            directory,
            apply=apply_record,
            snapshot_provider=self.snapshot,
            on_durable=self.on_durable,
            on_error=self.errors.append,
            compact_bytes=compact_bytes,
        )
        self.applied = self.journal.seq

    def write(self, ns: str, key: str, value: Any) -> int:
        return self.record({"ns": ns, "key": key, "value": value})

    def record(self, record: Record) -> int:
        with self.lock:
            seq = self.journal.append(record)
            apply_record(self.state, {**record, "seq": seq})
            self.applied = seq
        return seq

    def snapshot(self) -> tuple[int, State]:
        with self.lock:
            return self.applied, {ns: dict(entry) for ns, entry in self.state.items()}

    def on_durable(self, seq: int) -> None:
        with self.durable:
            self.acks.append(seq)
            self.durable.notify_all()

    def wait_durable(self, seq: int) -> None:
        with self.durable:
            assert self.durable.wait_for(lambda: bool(self.acks) and self.acks[-1] >= seq, 10)


def wal_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("wal-*.log"))


def frame_offsets(data: bytes) -> list[int]:
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += HEADER.size + HEADER.unpack_from(data, pos)[0]
    return offsets


def fill(directory: Path, count: int, start: int = 0) -> dict[str, Any]:
    """A session writing ``count`` children of namespace "n"; returns the expected data."""
    store = Store(directory)
    for i in range(start, start + count):
        store.write("n", f"k{i}", {"i": i})
    store.journal.close()
    return {f"k{i}": {"i": i} for i in range(start, start + count)}


def reopen(directory: Path) -> State:
    store = Store(directory)
    store.journal.close()
    return store.state


# ---------------------------------------------------------------------------------------------


def test_round_trip_and_seq_continues(tmp_path: Path) -> None:
    directory = tmp_path / "missing" / "data"
    store = Store(directory)
    assert directory.stat().st_mode & 0o777 == 0o700
    values: list[Any] = ["text", 0, -(2**63), 1.5, 1.0, True, False, {"deep": {"er": [1]}}]
    values += ["é€😀", "lone \ud800 surrogate", "\udfff", "nul\x00"]
    seqs = [store.write("a", f"k{i}", value) for i, value in enumerate(values)]
    seqs.append(store.write("a", "k0", None))
    seqs.append(store.record({"ns": "b", "rules": '{"rules": {".read": true}}'}))
    assert seqs == list(range(1, len(values) + 3))
    store.wait_durable(seqs[-1])
    store.journal.close()
    store.journal.close()  # idempotent
    assert store.acks == sorted(set(store.acks)) and store.acks[-1] == seqs[-1]
    expected = store.state

    again = Store(directory)
    assert again.state == expected
    assert again.state["a"]["data"]["k1"] == 0 and type(again.state["a"]["data"]["k4"]) is float
    assert again.journal.seq == seqs[-1]
    assert again.write("a", "more", 1) == seqs[-1] + 1
    again.journal.close()
    assert reopen(directory)["a"]["data"]["more"] == 1


def test_close_flushes_queued_writes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    last = 0
    for i in range(2000):
        last = store.write("n", f"k{i}", i)
    store.journal.close()  # no waiting: close must write and acknowledge everything
    assert store.acks[-1] == last == store.journal.durable_seq
    with pytest.raises(JournalError, match="closed"):
        store.write("n", "late", 1)
    assert len(reopen(tmp_path)["n"]["data"]) == 2000


def test_concurrent_appends_get_distinct_ordered_seqs(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def worker(t: int) -> None:
        for i in range(300):
            store.wait_durable(store.write("n", f"t{t}-{i}", i))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.journal.close()
    assert store.acks == sorted(set(store.acks)) and store.acks[-1] == 2400
    assert len(store.acks) < 2400  # group commit: several appends per fsync
    assert reopen(tmp_path) == store.state


def test_record_must_not_carry_seq_and_directory_is_exclusive(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(ValueError):
        store.journal.append({"seq": 3})
    with pytest.raises(JournalError, match="in use"):
        Store(tmp_path)
    store.journal.close()
    Store(tmp_path).journal.close()


def half_record() -> bytes:
    payload = json.dumps({"ns": "n", "key": "torn", "value": 1, "seq": 999}).encode()
    frame = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    return frame[: len(frame) // 2]


TORN_TAILS = {
    "half record": half_record(),
    "header only": HEADER.pack(100, 12345),
    "bad checksum": HEADER.pack(2, 0) + b"{}",
    "zeros": bytes(64),
    "garbage": random.Random(7).randbytes(300),
}


@pytest.mark.parametrize("tail", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_torn_tail_is_truncated(tmp_path: Path, tail: bytes) -> None:
    expected = fill(tmp_path, 20)
    [wal] = wal_files(tmp_path)
    intact_size = wal.stat().st_size
    with wal.open("ab") as file:
        file.write(tail)

    store = Store(tmp_path)
    assert store.state["n"]["data"] == expected
    assert wal.stat().st_size == intact_size
    store.write("n", "after", 1)
    store.journal.close()
    assert reopen(tmp_path)["n"]["data"] == {**expected, "after": 1}


def test_damaged_record_followed_by_intact_ones_is_refused(tmp_path: Path) -> None:
    fill(tmp_path, 10)
    [wal] = wal_files(tmp_path)
    data = bytearray(wal.read_bytes())
    data[frame_offsets(bytes(data))[3] + HEADER.size + 5] ^= 0x01
    wal.write_bytes(data)
    with pytest.raises(JournalError, match="followed by intact records"):
        Store(tmp_path)
    assert wal.read_bytes() == data  # nothing was truncated


def test_damage_in_a_sealed_log_is_refused(tmp_path: Path) -> None:
    fill(tmp_path, 5)
    fill(tmp_path, 5, start=5)
    first = wal_files(tmp_path)[0]
    with first.open("ab") as file:
        file.write(half_record())
    with pytest.raises(JournalError, match="sealed log"):
        Store(tmp_path)


def test_missing_log_is_refused(tmp_path: Path) -> None:
    for session in range(3):
        fill(tmp_path, 5, start=5 * session)
    logs = [wal for wal in wal_files(tmp_path) if wal.stat().st_size]
    assert len(logs) == 3
    logs[1].unlink()
    with pytest.raises(JournalError, match="records 6 to 10 are missing"):
        Store(tmp_path)


def compacted(directory: Path) -> Path:
    store = Store(directory)
    for i in range(50):
        store.write("n", f"k{i}", "ü" * i)
    store.journal.compact()
    store.journal.close()
    return directory / "snapshot.json"


def flip_inside_state(data: bytes) -> bytes:
    at = data.index("üü".encode())
    return data[:at] + "öü".encode() + data[at + 4 :]  # still valid JSON


SNAPSHOT_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "value changed": flip_inside_state,
    "not json": lambda data: b"\x00" * len(data),
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", SNAPSHOT_DAMAGE.values(), ids=SNAPSHOT_DAMAGE.keys())
def test_damaged_snapshot_is_refused(tmp_path: Path, damage: Any) -> None:
    snapshot = compacted(tmp_path)
    snapshot.write_bytes(damage(snapshot.read_bytes()))
    with pytest.raises(JournalError, match="snapshot is damaged"):
        Store(tmp_path)


def test_compaction_keeps_files_small_and_state_whole(tmp_path: Path) -> None:
    store = Store(tmp_path, compact_bytes=4096)
    last = 0
    for i in range(600):
        last = store.write("n", f"k{i % 150}", {"i": i, "pad": "p" * 40})
        if i % 7 == 0:
            store.wait_durable(last)
    store.wait_durable(last)
    assert (tmp_path / "snapshot.json").exists()
    assert sum(wal.stat().st_size for wal in wal_files(tmp_path)) < 3 * 4096
    store.journal.compact()
    [current] = wal_files(tmp_path)  # every sealed log is gone
    snapshot = json.loads((tmp_path / "snapshot.json").read_text("utf-8"))
    assert snapshot["seq"] == last and snapshot["state"] == store.state
    store.journal.close()
    assert reopen(tmp_path) == store.state


def test_records_after_the_snapshot_seq_are_replayed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i in range(10):
        store.write("n", f"k{i}", i)
    store.journal.compact()
    for i in range(10, 15):
        store.write("n", f"k{i}", i)
    store.journal.close()
    assert json.loads((tmp_path / "snapshot.json").read_text("utf-8"))["seq"] == 10
    assert reopen(tmp_path) == store.state


class ForgetfulStore(Store):
    def snapshot(self) -> tuple[int, State]:
        return 0, {}  # claims a state before record 1, which is already in a log


def test_inconsistent_snapshot_provider_stops_the_journal(tmp_path: Path) -> None:
    store = ForgetfulStore(tmp_path)
    store.wait_durable(store.write("n", "a", 1))
    with pytest.raises(JournalError, match="failed"):
        store.journal.compact()
    assert len(store.errors) == 1 and "outside the range" in str(store.errors[0])
    with pytest.raises(JournalError, match="failed"):
        store.write("n", "b", 2)
    with pytest.raises(JournalError, match="failed"):
        store.journal.close()
    assert reopen(tmp_path)["n"]["data"] == {"a": 1}


# ---------------------------------------------------------------------------------------------
# kill -9

CHILD = r"""
import sys, threading
from focuscli.server.journal import Journal

directory, compact_bytes, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lock, durable = threading.Lock(), threading.Condition()
durable_seq = 0

def apply(state, record):
    entry = state.setdefault("crash", {"data": {}, "rules": None})
    entry["data"][str(record["seq"])] = {"run": record["run"], "pad": record["pad"]}

def snapshot():
    with lock:
        result = applied, {ns: {**e, "data": dict(e["data"])} for ns, e in state.items()}
    say("compact")
    return result

def say(line):  # one write per line: a kill cannot leave half of it in the pipe
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def on_durable(seq):
    global durable_seq
    say(f"ack {seq}")
    with durable:
        durable_seq = seq
        durable.notify_all()

journal, state = Journal.open(directory, apply=apply, snapshot_provider=snapshot,
                              on_durable=on_durable, compact_bytes=compact_bytes)
applied = journal.seq
say(f"ready {journal.seq}")

def writer(t):
    global applied
    for i in range(200_000):  # the parent kills us long before
        record = {"run": run, "pad": f"{t}-{i}-" + "x" * 30}
        with lock:
            seq = journal.append(record)
            apply(state, {**record, "seq": seq})
            applied = seq
        with durable:
            durable.wait_for(lambda: durable_seq >= seq)

for t in range(8):
    threading.Thread(target=writer, args=(t,)).start()
"""


def crash_once(directory: Path, run: int, rng: random.Random) -> tuple[int, int]:
    """Run the writer child, SIGKILL it at a random moment; returns (base seq, max acked)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", CHILD, str(directory), str(16 * 1024), str(run)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.endswith("\n"):  # a line cut short by the kill is not an acknowledgement
                lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 15
    base = acked = -1
    during_compaction = rng.random() < 0.5
    target = rng.randrange(0, 400) if during_compaction else rng.randrange(1, 2500)
    try:
        while True:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, "the child exited on its own"
            word, *number = line.split()
            if word == "ready":
                base = acked = int(number[0])
            elif word == "ack":
                acked = int(number[0])
            reached = base >= 0 and acked - base >= target
            if reached and (not during_compaction or word == "compact"):
                break
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0, 0.002))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join()
        child.stdout.close()
    while (line := lines.get()) is not None:  # acks printed before the kill count too
        if line.startswith("ack "):
            acked = int(line.split()[1])
    return base, acked


def test_kill_9_never_loses_an_acknowledged_write(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    acknowledged: dict[int, int] = {}  # seq -> run that was told it is durable
    for run in range(10):
        base, acked = crash_once(tmp_path, run, rng)
        assert base >= max(acknowledged, default=0), f"seed {seed}: seq went backwards"
        acknowledged.update((seq, run) for seq in range(base + 1, acked + 1))

        journal, state = Journal.open(
            tmp_path,
            apply=lambda state, record: state.setdefault("crash", {"data": {}})["data"].update(
                {str(record["seq"]): {"run": record["run"]}}
            ),
            snapshot_provider=lambda: (0, {}),
            on_durable=lambda seq: None,
        )
        journal.close()
        data = state.get("crash", {}).get("data", {})
        lost = [seq for seq, by in acknowledged.items() if data.get(str(seq), {}).get("run") != by]
        assert not lost, f"seed {seed}, run {run}: acknowledged seqs lost: {lost[:10]}"
        assert journal.seq >= acked
    assert len(acknowledged) > 1000


# ---------------------------------------------------------------------------------------------
# out of space: refuse, wait, resume


def test_out_of_space_drops_the_unwritten_cuts_the_torn_tail_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from focuscli.server import journal as journal_module
    from focuscli.server.journal import JournalStalled

    monkeypatch.setattr(journal_module, "RETRY_S", 0.01)
    real_write = journal_module._write_all
    full = threading.Event()

    def write(fd: int, data: bytes) -> None:
        if full.is_set():  # the disk takes a few bytes, then is full: a torn record
            os.write(fd, data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(journal_module, "_write_all", write)
    recovered = threading.Event()
    store = Store(tmp_path)
    store.journal._on_recovered = recovered.set
    store.wait_durable(store.write("n", "a", 1))
    full.set()
    lost = store.write("n", "b", "never durable")
    deadline = time.monotonic() + 10
    while not store.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [type(e) for e in store.errors] == [JournalStalled]
    assert str(store.errors[0]) == f"no space left on the disk of the data directory {tmp_path}"
    with pytest.raises(JournalStalled):
        store.write("n", "c", 3)
    assert store.journal.durable_seq == lost - 1
    full.clear()
    assert recovered.wait(10)
    again = store.write("n", "d", 4)
    assert again == lost  # the dropped record's seq is given out again: the log stays contiguous
    store.wait_durable(again)
    store.journal.close()
    assert reopen(tmp_path)["n"]["data"] == {"a": 1, "d": 4}  # no torn record, no gap
