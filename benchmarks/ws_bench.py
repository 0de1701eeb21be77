#!/usr/bin/env python3
"""Benchmarks of `focus serve`'s realtime protocol (the WebSocket the Firebase JS SDKs use).

Figures, one line each (``--json``: JSON on stdout, the lines on stderr):

(a) fan-out: N sockets (N=1000; 100 with --quick), each authenticated as `owner` and listening
    on ``/room`` as the SDK does (``q`` then data then ``ok``), opened by nproc (2..4) client
    processes; a writer socket sets ``/room/t`` to its ``time.time_ns()`` every 100 ms (3
    warm-up writes, then 50); every socket records (receive time - send time) for every write.
    p50/p99/max over all (socket, write) pairs. Goal for N=1000: p99 <= 250 ms.
(b) set -> ack round trip of one socket: sequential ``p`` requests (a new key each), time from
    sending to the ``ok``; against ``--memory`` and against ``--data-dir`` (every ack waits for
    its fsync). p50/p99 of 500 (100 with --quick).
(c) server memory per idle socket: server VmRSS before and after opening N sockets that only
    did the handshake and their stats report (as a connected SDK with nothing to listen to).

Server and clients share the machine's cores; the server's CPU seconds during each measurement
are printed with it. Usage, from the repository root:

    python benchmarks/ws_bench.py            # about half a minute
    python benchmarks/ws_bench.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Child, child_env, percentile, proc_cpu, proc_rss_mib, read_line  # noqa: E402

NS = "wsbench"
INTERVAL = 0.1


def serve(work: Path, *args: str) -> tuple[Child, str]:
    """`focus serve --port 0 <args>` (open rules: nothing loaded), its ws:// base URL."""
    argv = [sys.executable, "-m", "focuscli", "serve", "--port", "0", *args]
    server = Child("server", argv, child_env(), work / f"server{len(args)}.stderr")
    assert server.proc.stdout is not None
    line = read_line(server.proc.stdout, 30, "focus serve")
    if "listening on http://" not in line:
        server.stop(signal.SIGTERM)
        raise BenchError(f"focus serve: unexpected ready line {line!r}")
    base = line.split("listening on http://", 1)[1].split()[0]
    return server, f"ws://{base}/.ws?v=5&ns={NS}"


class Client:
    """One realtime socket, spoken to as the SDK speaks: numbered requests, ok answers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.number = 0

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, owner: bool = True) -> Client:
        ws = await http.ws_connect(url, autoping=True, max_msg_size=0)
        client = cls(ws)
        await ws.receive_str()  # the hello
        await client.call("s", {"c": {"sdk.bench.1": 1}})
        if owner:
            await client.call("gauth", {"cred": "owner"})
        return client

    async def send(self, action: str, body: Any) -> int:
        self.number += 1
        await self.ws.send_str(json.dumps({"t": "d", "d": {"r": self.number, "a": action, "b": body}}))
        return self.number

    async def call(self, action: str, body: Any) -> None:
        number = await self.send(action, body)
        while True:
            message = json.loads(await self.ws.receive_str())
            if message["d"].get("r") == number:
                if message["d"]["b"]["s"] != "ok":
                    raise BenchError(f"{action}: {message}")
                return


def listener_process(url: str, count: int, warmup: int, ready: Any, stop: Any, results: Any) -> None:
    """A client process: `count` sockets listening on /room; the latencies (ms) of every write
    after the first `warmup` back on `results`."""

    async def main() -> list[float]:
        per_socket: list[list[float]] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clients = []
            for _ in range(count):
                client = await Client.open(http, url)
                await client.call("q", {"p": "/room", "h": ""})
                clients.append(client)
            ready.set()

            async def follow(client: Client) -> None:
                latencies: list[float] = []
                per_socket.append(latencies)
                async for message in client.ws:
                    text = message.data
                    if '"p":"room/t"' in text:
                        now = time.time_ns()
                        sent = json.loads(text)["d"]["b"]["d"]
                        latencies.append((now - sent) / 1e6)

            tasks = [asyncio.ensure_future(follow(c)) for c in clients]
            while not stop.is_set():
                await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            for client in clients:
                await client.ws.close()
        return [ms for latencies in per_socket for ms in latencies[warmup:]]

    results.put(asyncio.run(main()))


def fan_out(url: str, server: Child, sockets: int, procs: int, writes: int, warmup: int) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    results: Any = context.Queue()
    readies, workers = [], []
    per = [sockets // procs + (1 if i < sockets % procs else 0) for i in range(procs)]
    for count in per:
        ready = context.Event()
        worker = context.Process(target=listener_process, args=(url, count, warmup, ready, stop, results), daemon=True)
        worker.start()
        readies.append(ready)
        workers.append(worker)
    try:
        for ready in readies:
            if not ready.wait(180):
                raise BenchError("the listening sockets did not open in time")
        rss_listening = proc_rss_mib(server.pid)

        async def write() -> float:
            async with aiohttp.ClientSession() as http:
                writer = await Client.open(http, url)
                cpu = proc_cpu(server.pid)
                for i in range(warmup + writes):
                    await writer.call("p", {"p": "/room/t", "d": time.time_ns()})
                    if i == warmup - 1:
                        cpu = proc_cpu(server.pid)
                    await asyncio.sleep(INTERVAL)
                await asyncio.sleep(1.0)  # the last deliveries
                await writer.ws.close()
                return proc_cpu(server.pid) - cpu

        server_cpu = asyncio.run(write())
        stop.set()
        latencies: list[float] = []
        for _ in workers:
            latencies.extend(results.get(timeout=60))
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    latencies.sort()
    return {
        "sockets": sockets,
        "client_processes": procs,
        "deliveries": len(latencies),
        "expected": sockets * writes,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_rss_mib_listening": round(rss_listening, 1),
    }


def round_trips(url: str, server: Child, count: int) -> dict[str, Any]:
    async def run() -> list[float]:
        async with aiohttp.ClientSession() as http:
            client = await Client.open(http, url)
            times: list[float] = []
            for i in range(count):
                start = time.perf_counter()
                await client.call("p", {"p": f"/acks/k{i}", "d": {"n": i, "at": {".sv": "timestamp"}}})
                times.append((time.perf_counter() - start) * 1000)
            await client.ws.close()
            return times

    cpu = proc_cpu(server.pid)
    times = sorted(asyncio.run(run()))
    return {
        "writes": count,
        "p50_ms": round(percentile(times, 0.5), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
        "server_cpu_s": round(proc_cpu(server.pid) - cpu, 2),
    }


def idle_memory(url: str, server: Child, sockets: int) -> dict[str, Any]:
    async def run() -> tuple[float, float]:
        before = proc_rss_mib(server.pid)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clients = [await Client.open(http, url, owner=False) for _ in range(sockets)]
            await asyncio.sleep(1.0)
            after = proc_rss_mib(server.pid)
            for client in clients:
                await client.ws.close()
        return before, after

    before, after = asyncio.run(run())
    return {
        "sockets": sockets,
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
        "kib_per_socket": round((after - before) * 1024 / sockets, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--procs", type=int, default=0, help="client processes (default: nproc, 2..4)")
    args = parser.parse_args(argv)
    quick = args.quick
    sockets = 100 if quick else 1000
    procs = args.procs or min(4, max(2, len(os.sched_getaffinity(0))))
    figures: dict[str, Any] = {"mode": "quick" if quick else "full", "nproc": len(os.sched_getaffinity(0))}

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    with tempfile.TemporaryDirectory(prefix="focus-ws-bench-") as tmp:
        work = Path(tmp)
        server, url = serve(work, "--memory")
        try:
            memory = idle_memory(url, server, sockets)
            figures["idle_memory"] = memory
            say(f"(c) memory per idle socket: {memory['kib_per_socket']} KiB "
                f"({memory['sockets']} sockets: {memory['rss_before_mib']} -> {memory['rss_after_mib']} MiB RSS)")
            fan = fan_out(url, server, sockets, procs, 20 if quick else 50, 3)
            figures["fan_out"] = fan
            say(f"(a) one write -> {fan['sockets']} socket listeners: p50 {fan['p50_ms']} ms, p99 {fan['p99_ms']} ms "
                f"(goal <= 250), max {fan['max_ms']} ms; {fan['deliveries']}/{fan['expected']} delivered; "
                f"server CPU {fan['server_cpu_s']} s; RSS with them listening {fan['server_rss_mib_listening']} MiB")
            acks = round_trips(url, server, 100 if quick else 500)
            figures["set_ack_memory"] = acks
            say(f"(b) set -> ack, --memory: p50 {acks['p50_ms']} ms, p99 {acks['p99_ms']} ms ({acks['writes']} writes)")
        finally:
            if server.stop(signal.SIGTERM) != 0:
                raise BenchError(f"focus serve exited badly: {server.stderr_tail()}")
        server, url = serve(work, "--data-dir", str(work / "data"))
        try:
            acks = round_trips(url, server, 100 if quick else 500)
            figures["set_ack_durable"] = acks
            say(f"(b) set -> ack, --data-dir (fsync per ack): p50 {acks['p50_ms']} ms, p99 {acks['p99_ms']} ms")
        finally:
            server.stop(signal.SIGTERM)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"ws_bench: {err}", file=sys.stderr)
        sys.exit(1)
