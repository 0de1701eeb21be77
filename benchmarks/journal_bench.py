"""Acknowledged durable journal appends per second with 8 concurrent writers.

Usage: PYTHONPATH=. python benchmarks/journal_bench.py [seconds] [directory]
Each writer appends a small record and waits until the journal reports it durable, like a
client waiting for its write to be acknowledged. The directory defaults to a temporary one
(removed afterwards); put it on the disk you care about, as tmpfs makes fsync free.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from typing import Any

from focuscli.server.journal import Journal, Record, State

WRITERS = 8


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    if len(sys.argv) > 2:
        bench(seconds, sys.argv[2])
    else:
        with tempfile.TemporaryDirectory(prefix="journal-bench-") as directory:
            bench(seconds, directory)


def bench(seconds: float, directory: str) -> None:
    durable = threading.Condition()
    durable_seq = 0
    batches = 0
    lock = threading.Lock()
    data: dict[str, Any] = {}
    applied = 0

    def apply(state: State, record: Record) -> None:
        state.setdefault("bench", {"data": {}, "rules": None})["data"][record["k"]] = record["v"]

    def snapshot() -> tuple[int, State]:
        with lock:
            return applied, {"bench": {"data": dict(data), "rules": None}}

    def on_durable(seq: int) -> None:
        nonlocal durable_seq, batches
        with durable:
            durable_seq, batches = seq, batches + 1
            durable.notify_all()

    journal, state = Journal.open(
        directory, apply=apply, snapshot_provider=snapshot, on_durable=on_durable
    )
    data.update(state.get("bench", {}).get("data", {}))
    applied = start_seq = journal.seq
    stop = time.monotonic() + seconds

    def writer(index: int) -> None:
        nonlocal applied
        count = 0
        while time.monotonic() < stop:
            record: Record = {"k": f"w{index}-{count % 1000}", "v": {"n": count, "at": time.time()}}
            with lock:
                seq = journal.append(record)
                data[record["k"]] = record["v"]
                applied = seq
            with durable:
                while durable_seq < seq:
                    durable.wait()
            count += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    journal.close()
    acknowledged = durable_seq - start_seq
    print(
        f"{acknowledged / elapsed:,.0f} acknowledged appends/s with {WRITERS} writers "
        f"({acknowledged} in {elapsed:.2f} s, {acknowledged / max(batches, 1):.1f} per fsync) "
        f"in {directory}"
    )


if __name__ == "__main__":
    main()
