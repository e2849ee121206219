"""`make bench-patterns`: adversarial plan patterns cost one tenant nothing and the others nothing.

1. In process: each adversarial pattern judges a property holding a 32 KB string, through a
   compiled plan (the fastjsonschema fast check, and jsonschema alone for a draft-2020-12 plan),
   median and worst of RUNS judgements; Python's backtracking `re` on the first pattern with
   short inputs shows what RE2 replaced.
2. Over HTTP, on one micro-profile process (API, validation and worker share one GIL: the worst
   case for isolation): app B's ingest latency while B posts alone, while app A posts 32 KB
   events no pattern judges (the control: the same bytes to parse and hash), while A posts
   32 KB strings against the classic adversarial patterns, and against the costliest patterns
   within the caps; each client as fast as one connection goes.

Everything runs on 127.0.0.1 in a temporary folder and stops by PID; about a minute.
Part 1 imports the public entry points of app.validation (pure Python: it touches no Flask,
Celery or database) to time the judgement itself ([tool.importlinter] in pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.client import HTTPConnection
from pathlib import Path

from stack.servers import free_port, stop_process_group, wait_until

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LONG = 32 * 1024
# The adversarial patterns (each exponential or worse for a backtracking engine), then the
# costliest ones found within the caps: counted repetitions whose DFA outgrows its memory, so
# RE2 runs its NFA (linear, but input length x program size).
PATTERNS = [
    r"^(a+)+$",
    r"(a|a)*b",
    r"(.*a){20}",
    r"^((a*)*)*$",
    r"^(a|aa)+$",
    r"(x+x+)+y",
    r"^(\w+\s?)*$",
    r"^([a-z0-9]+([-._][a-z0-9]+)*)*@x$",
    r"(?:.{0,10}){1,9}z",
    r"[a-q][^u-z]{50}x",
    r"(?:a.{0,20}){12}z",
    r"(?:[a-h][^z]{0,20}){12}$",
]
# The 5 ms target is for the classic adversarial patterns; the within-cap ones are reported.
CLASSIC = PATTERNS[:8]
TEXTS = {
    "a*32K+b": "a" * LONG + "b",
    "mixed": ("abcdefghxyz ." * LONG)[:LONG],
    "a-h": ("abcdefgh" * LONG)[:LONG],
}
RUNS = 50


def judge_in_process() -> list[dict]:
    """Median and worst time to judge one 32 KB property, per pattern and validator path."""
    sys.path.insert(0, str(ROOT))
    from app.validation import compile_plan

    rows = []
    for index, pattern in enumerate(PATTERNS):
        for path, extra in (("fast check", {}), ("jsonschema", {"$schema": _DRAFT_2020})):
            schema = {**extra, "properties": {"s": {"type": "string", "pattern": pattern}}}
            plan = compile_plan({"events": {"e": schema}}, index + 1)
            times, cpu = [], []
            for text in TEXTS.values():
                for _ in range(RUNS):
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    plan.validate("e", {"s": text})
                    cpu.append(time.thread_time() - start_cpu)
                    times.append(time.perf_counter() - start)
            rows.append(
                {
                    "pattern": pattern,
                    "path": path,
                    "median_ms": statistics.median(times) * 1000,
                    "max_ms": max(times) * 1000,
                    "max_cpu_ms": max(cpu) * 1000,
                }
            )
    return rows


_DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"


def gil_released(pattern: str) -> str:
    """How often another Python thread ran per ms while RE2 judged the 32 KB strings."""
    from app.validation import compile_pattern

    regex = compile_pattern(pattern)
    return _ticks_per_ms(lambda: [regex.search(text) for text in TEXTS.values()])


def _ticks_per_ms(work) -> str:
    """How often a thread sleeping 1 ms at a time ran per ms of work (1 when nothing blocks it)."""
    ticks = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.01)
    start, before = time.perf_counter(), ticks[0]
    work()
    elapsed_ms = (time.perf_counter() - start) * 1000
    ran = ticks[0] - before
    stop.set()
    spinner.join()
    return f"{ran / elapsed_ms:.2f}"


def backtracking_baseline() -> list[tuple[int, float]]:
    """Python's re on `^(a+)+$` against n a's and a b: doubling per extra character."""
    out = []
    for n in (16, 18, 20, 22):
        start = time.perf_counter()
        re.search(r"^(a+)+$", "a" * n + "b")
        out.append((n, (time.perf_counter() - start) * 1000))
    return out


def _post(conn: HTTPConnection, path: str, body: bytes) -> tuple[int, float]:
    start = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - start


def _poster(port: int, path: str, make_body, stop: threading.Event, out: list) -> None:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        status, seconds = _post(conn, path, make_body())
        out.append((status, seconds))
    conn.close()


def _stats(samples: list[tuple[int, float]]) -> dict:
    times = sorted(seconds for _, seconds in samples)
    statuses: dict[int, int] = {}
    for status, _ in samples:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "requests": len(times),
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "max_ms": times[-1] * 1000,
        "statuses": statuses,
    }


def isolation(seconds: float) -> dict:
    """B's ingest latency alone and while A sends adversarial events, on one micro process."""
    with tempfile.TemporaryDirectory(prefix="lvd-patterns-") as folder:
        env = {
            **os.environ,
            "LVD_PROFILE": "micro",
            "LVD_DATA_DIR": folder,
            "PORT": str(free_port()),
            "SECRET_KEY": "bench",
        }
        plan_a = Path(folder) / "plan_a.json"
        events = {
            f"attack_{i}": {"properties": {"s": {"type": "string", "pattern": p}}}
            for i, p in enumerate(PATTERNS)
        }
        plan_a.write_text(json.dumps({"events": events}))
        created = subprocess.run(
            [str(BIN / "flask"), "--app", "run", "apps", "create", "attacker", "--plan",
             str(plan_a), "--json"],  # fmt: skip
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key_a = json.loads(created.stdout)["write_key"]
        log = open(Path(folder) / "micro.log", "w")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(
            [sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        port = int(env["PORT"])
        try:
            wait_until(lambda: _up(port), 60, "the micro profile")
            key_b = json.loads((Path(folder) / "demo_app.json").read_text())["write_key"]
            # Big enough to fill the event cap (32 KB) with the envelope.
            filler = "a" * (LONG - 200) + "b"

            def attacks(first: int, end: int):
                def attack() -> bytes:
                    name = f"attack_{first + uuid.uuid4().int % (end - first)}"
                    return json.dumps(
                        {"eventName": name, "s": filler, "messageId": str(uuid.uuid4())}
                    ).encode()

                return attack

            def plain() -> bytes:  # the same size, no pattern to run: the control
                return json.dumps(
                    {"eventName": "plain", "s": filler, "messageId": str(uuid.uuid4())}
                ).encode()

            def normal() -> bytes:
                return json.dumps(
                    {
                        "eventName": "user_login",
                        "userId": 1,
                        "method": "email",
                        "messageId": str(uuid.uuid4()),
                    }  # fmt: skip
                ).encode()

            # Warm both apps' plans and connections before measuring.
            classic = attacks(0, len(CLASSIC))
            within_caps = attacks(len(CLASSIC), len(PATTERNS))
            conn = HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(20):
                _post(conn, f"/api/logs/{key_b}", normal())
                _post(conn, f"/api/logs/{key_a}", classic())
            conn.close()
            results = {}
            phases = (
                ("B alone", None),
                ("B, A sends 32 KB", plain),
                ("B, A classic", classic),
                ("B, A costliest", within_caps),
            )
            for phase, a_body in phases:
                stop = threading.Event()
                b_samples: list = []
                a_samples: list = []
                threads = [
                    threading.Thread(
                        target=_poster, args=(port, f"/api/logs/{key_b}", normal, stop, b_samples)
                    )
                ]
                if a_body is not None:
                    threads.append(
                        threading.Thread(
                            target=_poster,
                            args=(port, f"/api/logs/{key_a}", a_body, stop, a_samples),
                        )
                    )
                for thread in threads:
                    thread.start()
                time.sleep(seconds)
                stop.set()
                for thread in threads:
                    thread.join()
                results[phase] = {"B": _stats(b_samples)}
                if a_body is not None:
                    results[phase]["A"] = _stats(a_samples)
            return results
        finally:
            stop_process_group(server.pid)
            log.close()


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="length of each HTTP phase")
    args = parser.parse_args()

    print("1. One 32 KB property judged in process (median / worst of "
          f"{RUNS * len(TEXTS)} judgements)")  # fmt: skip
    rows = judge_in_process()
    width = max(len(row["pattern"]) for row in rows)
    for row in rows:
        print(
            f"   {row['pattern']:<{width}}  {row['path']:<10}  "
            f"median {row['median_ms']:6.3f} ms  worst {row['max_ms']:6.3f} ms "
            f"(CPU {row['max_cpu_ms']:6.3f} ms)"
        )
    # The wall-clock worst includes the time the OS gave other processes of this shared
    # machine; the thread's CPU time is the judgement's own cost.
    worst = max((r for r in rows if r["pattern"] in CLASSIC), key=lambda r: r["max_cpu_ms"])
    verdict = "under" if worst["max_cpu_ms"] < 5 else "OVER"
    print(
        f"   worst classic adversarial pattern: {worst['pattern']} ({worst['path']}) "
        f"{worst['max_cpu_ms']:.3f} ms of CPU, {verdict} the 5 ms target"
    )
    costliest = max(rows, key=lambda r: r["max_cpu_ms"])
    print(
        f"   costliest within the caps: {costliest['pattern']} {costliest['max_cpu_ms']:.1f} ms "
        f"of CPU; while it runs, another thread ticked {gil_released(costliest['pattern'])} "
        "times a ms (RE2 releases the GIL; Python's re: see below)"
    )
    print("   Python's backtracking re, ^(a+)+$ against n a's and a b (what RE2 replaced):")
    for n, ms in backtracking_baseline():
        print(f"   n={n}: {ms:9.1f} ms")
    held = _ticks_per_ms(lambda: re.search(r"^(a+)+$", "a" * 22 + "b"))
    print(f"   while it runs (n=22), another thread ticked {held} times a ms: it holds the GIL")

    print(f"\n2. App B's ingest on one micro process, {args.seconds:.0f} s per phase")
    results = isolation(args.seconds)
    for phase, apps in results.items():
        for name, stats in apps.items():
            print(
                f"   {phase:<18} {name}: {stats['requests']:6d} requests  "
                f"p50 {stats['p50_ms']:6.2f} ms  p99 {stats['p99_ms']:6.2f} ms  "
                f"max {stats['max_ms']:7.2f} ms  statuses {stats['statuses']}"
            )
    print("   (client threads share the 2 cores with the server: B's p99 moves with CPU")
    print("    sharing, which the 32 KB control without patterns shows; a backtracking engine")
    print("    would hold the GIL for seconds per attack event)")


if __name__ == "__main__":
    main()
