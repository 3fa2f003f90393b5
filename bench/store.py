"""How far one Redis carries a fleet: the store's own operations, driven from many processes.

Each operation the workers and the API run against Redis is measured alone, from P client
processes for S seconds each, against a real ``redis-server``:

- ``claim``: a trial worker takes a queued trial (``CLAIM_TRIAL``, its event);
- ``renew``: a heartbeat with an epoch's progress (``RENEW_LEASE`` with a 20-epoch history of
  four metrics, its event), what a worker sends after every epoch;
- ``finish``: a finished trial (``FINISH_TRIAL``, the usage and stats counts, its event);
- ``broker``: one task message published, delivered and acknowledged through kombu's Redis
  transport with Celery's options (each trial takes two: its ``run_trial`` and an
  ``advance``);
- ``trials_50``: the trials of a 50-trial job read back (what each ``advance`` reads);
- ``poll`` and ``poll_unchanged``: the API's job read (``READ_JOB`` with the key check), without
  and with the tag of an earlier read.

Reported per operation: operations per second (all processes together) and Redis CPU per
operation (``INFO cpu`` over the phase). From these, the trials per second one Redis core
sustains, and so the workers it feeds at a given trial length (see ``capacity``).

    python bench/store.py                       # 8 processes, 5 s per operation
    python bench/store.py --smoke               # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import save  # noqa: E402
from service.core.apikeys import presented_digest  # noqa: E402
from service.core.contract import celery_config  # noqa: E402
from service.core.records import TrialState  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.core.spec import load_spec  # noqa: E402
from service.core.store import JobStore, connect  # noqa: E402
from service.core.store.limits import Budget  # noqa: E402
from service.core.store.trials import TrialOutcome  # noqa: E402
from service.devstack import free_port, start_redis, stop_process  # noqa: E402

SPEC = {
    "dataset": {"builtin": "digits"},
    "model": {"family": "mlp"},
    "search_space": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "units": {"type": "int", "low": 16, "high": 256},
    },
    "search": {"strategy": "random", "max_trials": 1000},
}
EPOCHS = 20
HISTORY = {name: [0.5 + 0.01 * e for e in range(EPOCHS)]
           for name in ("loss", "val_loss", "accuracy", "val_accuracy")}  # fmt: skip
OUTCOME = TrialOutcome(
    TrialState.COMPLETED,
    value=0.97,
    metrics={name: values[-1] for name, values in HISTORY.items()},
    history=HISTORY,
    epochs=EPOCHS,
    best_epoch=EPOCHS - 2,
)


@dataclasses.dataclass
class Plan:
    url: str
    seconds: float
    trials_per_process: int
    key: str
    polled: list[str]  # jobs to poll, each with a best trial
    listed: str  # a job of 50 finished trials


def _until(seconds: float, step: Callable[[int], bool]) -> int:
    """Call ``step(i)`` until ``seconds`` pass or it says it is out of work; the count."""
    done, stop_at = 0, time.monotonic() + seconds
    while time.monotonic() < stop_at and step(done):
        done += 1
    return done


def _worker(plan: Plan, index: int, ops: list[str], out: Any, start: Any) -> None:
    """One client process: its own job of queued trials, then each operation in turn."""
    store = JobStore(connect(plan.url))
    job_id = store.jobs.create(f"p{index}", load_spec(SPEC))
    for first in range(0, plan.trials_per_process, 1000):
        count = min(1000, plan.trials_per_process - first)
        store.trials.add(job_id, [{"learning_rate": 0.01, "units": 64}] * count)
    claimed: list[tuple[int, str]] = []
    digest = presented_digest(plan.key)
    budget = Budget(1, 0)
    tags = {j: store.jobs.read(j, digest, budget).tag for j in plan.polled}
    from kombu import Connection

    broker = celery_config(Settings(redis_url=plan.url))
    connection = Connection(broker["broker_url"], transport_options=broker[
        "broker_transport_options"
    ])  # fmt: skip
    queue = connection.SimpleQueue(f"bench-{index}")

    def claim(i: int) -> bool:
        if i >= plan.trials_per_process:
            return False
        claim = store.trials.claim(job_id, i, f"w{index}", lease_s=600)
        claimed.append((i, claim.token))
        return True

    def renew(i: int) -> bool:
        number, token = claimed[i % len(claimed)]
        epoch = i % EPOCHS + 1
        history = {name: values[:epoch] for name, values in HISTORY.items()}
        store.trials.renew(job_id, number, token, 600, epochs=epoch, history=history)
        return True

    def finish(i: int) -> bool:
        if i >= len(claimed):
            return False
        number, token = claimed[i]
        store.trials.finish(job_id, number, token, OUTCOME)
        return True

    def send(i: int) -> bool:
        queue.put({"task": "tuneq.run_trial", "args": [job_id, i]})
        queue.get(block=True, timeout=5).ack()
        return True

    steps: dict[str, Callable[[int], bool]] = {
        "claim": claim,
        "renew": renew,
        "finish": finish,
        "broker": send,
        "trials_50": lambda i: bool(store.trials.list(plan.listed)),
        "poll": lambda i: bool(store.jobs.read(plan.polled[i % len(plan.polled)], digest, budget)),
        "poll_unchanged": lambda i: bool(
            store.jobs.read(job := plan.polled[i % len(plan.polled)], digest, budget, tags[job])
        ),
    }
    for op in ops:
        start.wait()  # every process starts each operation together
        out.put((op, _until(plan.seconds, steps[op])))
    queue.close()
    connection.release()


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def prepare(url: str, polled: int) -> tuple[str, list[str], str]:
    """A key, jobs to poll (each with a best trial) and a job of 50 finished trials."""
    store = JobStore(connect(url))
    _, key = store.api_keys.create("bench")
    jobs = []
    for count in [1] * polled + [50]:
        job_id = store.jobs.create("bench", load_spec(SPEC))
        store.trials.add(job_id, [{"learning_rate": 0.01, "units": 64}] * count)
        for n in range(count):
            claim = store.trials.claim(job_id, n, "prep", lease_s=600)
            store.trials.finish(job_id, n, claim.token, OUTCOME)
        jobs.append(job_id)
    return key, jobs[:-1], jobs[-1]


def capacity(results: dict[str, dict[str, float]], epochs: int, headroom: float) -> float:
    """Trials per second one Redis core sustains at ``headroom`` of its time: a trial is a
    claim, a heartbeat per epoch, a finish, two task messages and an advance's read."""
    cpu = {op: r["redis_cpu_us_per_op"] for op, r in results.items()}
    per_trial = (
        cpu["claim"] + epochs * cpu["renew"] + cpu["finish"] + 2 * cpu["broker"] + cpu["trials_50"]
    )
    return headroom * 1e6 / per_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="per operation")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "store.json"))
    args = parser.parse_args()
    if args.smoke:
        args.processes, args.seconds = 2, 0.3
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-store-smoke.json")
    ops = ["claim", "renew", "finish", "broker", "trials_50", "poll", "poll_unchanged"]
    port = free_port()
    proc = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        key, polled, listed = prepare(url, 20)
        plan = Plan(url, args.seconds, 3000 if args.smoke else 40_000, key, polled, listed)
        context = multiprocessing.get_context("fork")
        out, start = context.Queue(), context.Barrier(args.processes + 1)
        workers = [
            context.Process(target=_worker, args=(plan, i, ops, out, start))
            for i in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        results: dict[str, dict[str, float]] = {}
        for op in ops:
            cpu_before = _redis_cpu(client)
            start.wait(timeout=600)
            began = time.monotonic()
            counts = [out.get(timeout=600)[1] for _ in workers]
            wall = time.monotonic() - began
            done = sum(counts)
            results[op] = {
                "ops_per_s": round(done / wall, 1),
                "redis_cpu_us_per_op": round(1e6 * (_redis_cpu(client) - cpu_before) / done, 2),
            }
            print(
                f"{op:>15}: {results[op]['ops_per_s']:>9.1f} ops/s   Redis CPU "
                f"{results[op]['redis_cpu_us_per_op']:>7.2f} us/op"
            )
        for worker in workers:
            worker.join(timeout=60)
    finally:
        stop_process(proc)
    trials_per_s = capacity(results, EPOCHS, headroom=0.7)
    fleet = {
        f"{seconds}s": int(trials_per_s * seconds) for seconds in (5, 30, 60, 300)
    }  # workers N with N / T trials a second
    lengths = ", ".join(f"{k}: {v:,}" for k, v in fleet.items())
    print(
        f"one Redis core at 70 %: {trials_per_s:.0f} trials/s of {EPOCHS} epochs; "
        f"workers fed at a trial length of {lengths}"
    )
    save(
        args.out,
        {
            "processes": args.processes,
            "seconds_per_op": args.seconds,
            "epochs_per_trial": EPOCHS,
            "operations": results,
            "trials_per_s_at_70pct_core": round(trials_per_s, 1),
            "workers_fed_by_trial_length": fleet,
        },
    )


if __name__ == "__main__":
    main()
