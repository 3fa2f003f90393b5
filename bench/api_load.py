"""The API under load: clients polling jobs, against the ceiling of a bare Flask route.

A Redis holds 1,000 jobs of 50 trials each. ``tuneq api`` (gunicorn, its default processes and
threads) serves ``GET /v1/jobs/{id}`` to C concurrent clients, each polling a random job with
a key, for D seconds; then the same gunicorn settings serve a bare Flask route that reads one
Redis key, the most this machine can do through the same stack. Reported for both: requests
per second, p50 and p99 latency, errors; and their ratio. The clients are threads of this
process with keep-alive connections (the same client for both runs, so the ratio is fair).
Both servers run side by side and take the load in alternating rounds, so that a change in
the machine's speed during the run (a shared host) weighs on both alike.

    python bench/api_load.py                    # 50 clients, 30 s each
    python bench/api_load.py --smoke            # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import save  # noqa: E402
from service.core import keys  # noqa: E402
from service.core.spec import load_spec  # noqa: E402
from service.core.store import JobStore, connect  # noqa: E402
from service.devstack import free_port, start_redis, stop_process  # noqa: E402

BARE_APP = """
import os, redis
from flask import Flask, jsonify
client = redis.Redis.from_url(os.environ["TUNEQ_REDIS_URL"], decode_responses=True)
app = Flask("bare")

@app.get("/bare")
def bare():
    return jsonify({"value": client.get("bench:key")})
"""


def populate(store: JobStore, raw: redis.Redis, jobs: int, trials: int) -> list[str]:
    """Jobs as a finished search leaves them: trials with params, metrics, curves; a best.
    The trials' results are written straight to their hashes (``raw``): claiming and finishing
    50,000 trials one by one would take longer than the measurement."""
    spec = load_spec(
        {
            "dataset": {"builtin": "digits"},
            "model": {"family": "mlp"},
            "search_space": {"units": {"type": "int", "low": 16, "high": 256}},
            "training": {"objective": {"metric": "val_accuracy", "direction": "max"}},
            "search": {"strategy": "random", "max_trials": trials},
        }
    )
    history = json.dumps({"loss": [0.5] * 30, "val_loss": [0.6] * 30, "val_accuracy": [0.9] * 30})
    ids = []
    for _ in range(jobs):
        job_id = store.jobs.create("bench", dataclasses.replace(spec, name="load"))
        store.trials.add(job_id, [{"units": 16 + i} for i in range(trials)])
        pipe = raw.pipeline(transaction=False)
        for n in range(trials):
            pipe.hset(
                keys.trial(job_id, n),
                mapping={"state": "completed", "value": "0.9", "history": history,
                         "metrics": json.dumps({"val_accuracy": 0.9, "val_loss": 0.3})},
            )  # fmt: skip
        pipe.hset(keys.job(job_id), mapping={"best_trial": 0, "best_value": 0.9})
        pipe.execute()
        ids.append(job_id)
    return ids


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and of its live descendants, from ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return 0.0  # gone: its time is not this round's anyway
    own = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return own + sum(cpu_seconds(child) for child in children)


@dataclass
class Tally:
    """What the clients saw of one server over every round it was loaded, and the CPU time
    its processes and Redis spent meanwhile (the cost of a request, whatever the machine's
    speed at the time)."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
        return {
            "requests": len(ordered),
            "rps": round(len(ordered) / self.seconds, 1),
            "p50_ms": round(1000 * pick(0.50), 2),
            "p99_ms": round(1000 * pick(0.99), 2),
            "errors": self.errors,
            "server_cpu_ms_per_request": round(1000 * self.server_cpu_s / len(ordered), 3),
            "redis_cpu_ms_per_request": round(1000 * self.redis_cpu_s / len(ordered), 3),
        }


def load(
    port: int,
    paths: list[str],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    tally: Tally,
) -> None:
    """C clients on keep-alive connections, each a thread, for ``seconds``; into ``tally``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                conn.request("GET", rng.choice(paths), headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.seconds += time.monotonic() - began
    tally.latencies.extend(latencies)
    tally.errors += errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="per server, in all")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the two")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "api_load.json"))
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.trials, args.clients, args.seconds, args.rounds = 5, 3, 4, 1.0, 2
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-api-load-smoke.json")
    redis_port = free_port()
    redis_proc = start_redis(redis_port)
    url = f"redis://127.0.0.1:{redis_port}/0"
    store = JobStore(connect(url))
    raw = redis.Redis.from_url(url, decode_responses=True)
    ids = populate(store, raw, args.jobs, args.trials)
    _, key = store.api_keys.create("bench")
    raw.set("bench:key", "x" * 200)
    env = {**os.environ, "TUNEQ_REDIS_URL": url, "TUNEQ_RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    tallies = {"tuneq": Tally(), "bare": Tally()}
    servers: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "bare_app.py").write_text(
                BARE_APP + "\n@app.get('/healthz')\ndef h():\n    return 'ok'\n"
            )
            tuneq_port, bare_port = free_port(), free_port()
            servers.append(serve(
                [sys.executable, "-m", "service.cli", "api", "--bind", f"127.0.0.1:{tuneq_port}"],
                env, tuneq_port,
            ))  # fmt: skip
            servers.append(serve(
                [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_conf",
                 "--bind", f"127.0.0.1:{bare_port}", "--workers", "2", "--threads", "8",
                 "--chdir", folder, "--access-logfile", "/dev/null", "bare_app:app"],
                env, bare_port,
            ))  # fmt: skip
            targets = {
                "tuneq": (
                    servers[0].pid,
                    tuneq_port,
                    [f"/v1/jobs/{job_id}" for job_id in ids],
                    {"Authorization": f"Bearer {key}"},
                ),
                "bare": (servers[1].pid, bare_port, ["/bare"], {}),
            }
            share = args.seconds / args.rounds
            for round_ in range(args.rounds):  # alternate, so drift in the machine hits both
                order = ("tuneq", "bare") if round_ % 2 == 0 else ("bare", "tuneq")
                for name in order:
                    pid, port, paths, headers = targets[name]
                    tally = tallies[name]
                    server, store_cpu = cpu_seconds(pid), cpu_seconds(redis_proc.pid)
                    load(port, paths, headers, args.clients, share, tally)
                    tally.server_cpu_s += cpu_seconds(pid) - server
                    tally.redis_cpu_s += cpu_seconds(redis_proc.pid) - store_cpu
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        stop_process(redis_proc)
    results = {name: tally.summary() for name, tally in tallies.items()}
    ratio = results["bare"]["rps"] / max(results["tuneq"]["rps"], 1e-9)
    result = {
        "jobs": args.jobs,
        "trials_per_job": args.trials,
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        **results,
        "ceiling_over_tuneq_rps": round(ratio, 2),
    }
    for name in ("tuneq", "bare"):
        r = results[name]
        latency = f"p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms"
        cpu = (
            f"CPU/request: server {r['server_cpu_ms_per_request']:.3f} ms, "
            f"Redis {r['redis_cpu_ms_per_request']:.3f} ms"
        )
        print(f"{name:>6}: {r['rps']:>8.1f} req/s  {latency}  errors {r['errors']}  {cpu}")
    print(f"ceiling / tuneq: {ratio:.2f}x")
    save(args.out, result)


if __name__ == "__main__":
    main()
