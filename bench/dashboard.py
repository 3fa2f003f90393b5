"""The dashboard on a real stack: how soon an open page shows each finished trial, and what
open dashboards cost the API.

1. Latency. A job of 30 synthetic trials runs while Chromium shows its page; the page records
   when its progress line first shows each count ("k of 30 trials finished"), and each is
   compared with the moment the k-th trial finished in the store. Same machine, same clock.
2. Cost. Poll clients load ``GET /v1/jobs/{id}`` (as ``bench/api_load.py`` does) in rounds,
   alternately with and without 20 open dashboards (Chromium tabs: 10 on the page of a running
   job, following its events, and 10 on the job list, which refreshes every 2 s). The watched
   job finishes about two trials a second, each with 30 epochs of curves, and has 60 before
   the first round. Reported: the API's CPU time per polled request in both, and their
   ratio (what the dashboards' own requests cost is in the "with" figure, as it is on a real
   server), and the API's CPU per request a dashboard made. Chromium shares this machine's
   cores with the API: the CPU time per request is what compares, not requests per second.

The API is ``tuneq api`` (gunicorn) sized for the dashboards' event streams: each open job page
holds one stream, and so one thread (``TUNEQ_STREAMS_PER_PROCESS``).

    python bench/dashboard.py                   # 30 trials; 3 + 3 rounds of 20 s
    python bench/dashboard.py --smoke           # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_load import Tally, cpu_seconds, load, populate, serve  # noqa: E402
from bench.machine import save  # noqa: E402
from service.core.store import JobStore, connect  # noqa: E402
from service.devstack import free_port, start_redis, stop_process, worker_command  # noqa: E402

# The page notes the moment it first shows each finished-trial count.
RECORDER = """
window.__seen = {};
new MutationObserver(() => {
  const shown = document.getElementById("progress-text");
  const count = shown && /^(\\d+) of/.exec(shown.textContent);
  if (count && !(count[1] in window.__seen)) window.__seen[count[1]] = Date.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def synthetic(name: str, trials: int, sleep_s: float, epochs: int = 4) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"builtin": "digits"},
        "model": {"family": "synthetic", "sleep_s": sleep_s},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "units": {"type": "int", "low": 16, "high": 512, "log": True},
        },
        "training": {"max_epochs": epochs},
        "search": {"strategy": "random", "max_trials": trials, "parallelism": 2, "seed": 3},
    }


class Api:
    def __init__(self, port: int, key: str) -> None:
        self.url, self.key = f"http://127.0.0.1:{port}", key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while (job := self.call("GET", f"/v1/jobs/{job_id}"))["status"] not in (
            "succeeded", "failed", "cancelled",
        ):  # fmt: skip
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} did not finish: {job['status']}")
            time.sleep(0.5)
        return job


def dashboard(browser: Any, api: Api, path: str, sent: list[str] | None = None) -> Any:
    """A page in a browser context of its own: a person at their own browser (one browser
    holds at most six connections to a server, and each followed job takes one)."""
    context = browser.new_context()
    key = f"sessionStorage.setItem('tuneq.api-key', {api.key!r})"
    context.add_init_script(f"try {{ {key}; }} catch {{}}")  # about:blank has no storage
    context.add_init_script(RECORDER)
    page = context.new_page()
    if sent is not None:  # what the page asks of the API (its event stream counts once)
        page.on("request", lambda r: sent.append(r.url) if "/v1/" in r.url else None)
    page.goto(api.url + path)
    return page


def latency(browser: Any, api: Api, trials: int, sleep_s: float) -> dict[str, Any]:
    """Milliseconds from each trial's finish to the open page showing it."""
    job_id = api.call("POST", "/v1/jobs", synthetic("watched", trials, sleep_s))["id"]
    page = dashboard(browser, api, f"/ui#/jobs/{job_id}")
    api.wait(job_id, 600)
    page.wait_for_function(f"() => String({trials}) in window.__seen", timeout=30_000)
    seen = page.evaluate("window.__seen")
    page.context.close()
    finishes = sorted(
        datetime.fromisoformat(t["finished_at"]).timestamp()
        for t in api.call("GET", f"/v1/jobs/{job_id}/trials")["trials"]
    )
    shown = {int(k): at / 1000 for k, at in seen.items()}
    # the k-th finish is on the page once any count of k or more is (two trials finishing
    # together show in one update)
    lags_ms = sorted(
        1000 * (min(at for count, at in shown.items() if count >= k) - finishes[k - 1])
        for k in range(1, trials + 1)
    )
    return {
        "trials": trials,
        "updates_seen": len(shown),
        "lag_ms_median": round(statistics.median(lags_ms), 1),
        "lag_ms_p90": round(lags_ms[int(0.9 * (len(lags_ms) - 1))], 1),
        "lag_ms_max": round(lags_ms[-1], 1),
    }


def cost(
    browser: Any, api: Api, pid: int, polled: tuple[list[str], str], args: argparse.Namespace
) -> dict[str, Any]:
    """The API's CPU per polled request without and with 20 open dashboards, in alternating
    rounds (a change in the machine's speed weighs on both alike)."""
    # The watched job finishes about two trials a second (two worker slots), each with 30
    # epochs of curves, and has a history before the first round.
    long = synthetic("long", 1000, args.long_sleep_s, epochs=30)
    watched = api.call("POST", "/v1/jobs", long)["id"]
    deadline = time.monotonic() + 600
    while api.call("GET", f"/v1/jobs/{watched}")["progress"]["trials_finished"] < args.history:
        assert time.monotonic() < deadline, "the watched job does not advance"
        time.sleep(1)
    ids, key = polled
    paths = [f"/v1/jobs/{job_id}" for job_id in ids]
    headers = {"Authorization": f"Bearer {key}"}
    port = int(api.url.rsplit(":", 1)[1])
    tallies = {"without": Tally(), "with": Tally()}
    pages: list[Any] = []
    dashboard_requests = 0
    try:
        for round_ in range(2 * args.rounds):
            name = ("without", "with")[round_ % 2]
            sent: list[str] = []
            if name == "with":
                half = args.dashboards // 2
                paths_ = [f"/ui#/jobs/{watched}"] * half + ["/ui#/jobs"] * (args.dashboards - half)
                pages = [dashboard(browser, api, path, sent) for path in paths_]
                for page in pages:
                    page.wait_for_selector("h1")
                time.sleep(2)  # streams open, first loads done
            tally = tallies[name]
            before, asked = cpu_seconds(pid), len(sent)
            load(port, paths, headers, args.clients, args.seconds, tally)
            tally.server_cpu_s += cpu_seconds(pid) - before
            for page in pages:  # Playwright hands over a page's events when it is next called
                page.evaluate("0")
            dashboard_requests += len(sent) - asked
            for page in pages:
                page.context.close()
            pages = []
    finally:
        api.call("POST", f"/v1/jobs/{watched}/cancel", {"refit": False})
    out = {name: tally.summary() for name, tally in tallies.items()}
    per = {name: out[name]["server_cpu_ms_per_request"] for name in out}
    # what the API spent beyond the polls (at their cost without dashboards), per request a
    # dashboard made: its event streams' upkeep included
    extra_ms = 1000 * tallies["with"].server_cpu_s - per["without"] * out["with"]["requests"]
    return {
        **out,
        "watched_trials_at_end": api.call("GET", f"/v1/jobs/{watched}")["progress"][
            "trials_finished"
        ],
        "dashboard_requests_per_s": round(dashboard_requests / tallies["with"].seconds, 1),
        "cpu_ms_per_dashboard_request": round(extra_ms / max(dashboard_requests, 1), 3),
        "cpu_per_polled_request_ratio": round(per["with"] / per["without"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--sleep-s", type=float, default=1.0, help="per synthetic trial")
    parser.add_argument("--long-sleep-s", type=float, default=1.0, help="the watched job's")
    parser.add_argument(
        "--history", type=int, default=60, help="trials the watched job has before round one"
    )
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3, help="of each")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "dashboard.json"))
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.sleep_s, args.dashboards, args.history = 4, 0.2, 2, 2
        args.clients, args.seconds, args.rounds = 2, 1.0, 1
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-dashboard-smoke.json")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("bench/dashboard.py needs Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    redis_port = free_port()
    redis_proc = start_redis(redis_port)
    url = f"redis://127.0.0.1:{redis_port}/0"
    store = JobStore(connect(url))
    ids = populate(store, redis.Redis.from_url(url, decode_responses=True), 200, 30)
    _, key = store.api_keys.create("bench")  # the poll clients'
    _, watcher = store.api_keys.create("watcher")  # the dashboards' (bench's jobs are many)
    env = {
        **os.environ,
        "TUNEQ_REDIS_URL": url,
        "TUNEQ_RATE_LIMIT_PER_MINUTE": "0",
        "TUNEQ_ALLOW_SYNTHETIC": "true",
        "TUNEQ_STREAMS_PER_PROCESS": "16",
        "TUNEQ_MAX_STREAMS_PER_KEY": "40",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    api_port = free_port()
    worker = subprocess.Popen(
        worker_command(concurrency=2), env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = serve(
        [sys.executable, "-m", "service.cli", "api", "--bind", f"127.0.0.1:{api_port}",
         "--workers", "2", "--threads", "24"],
        env, api_port,
    )  # fmt: skip
    api = Api(api_port, watcher)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            result = {"latency": latency(browser, api, args.trials, args.sleep_s)}
            result["cost"] = cost(browser, api, server.pid, (ids, key), args)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stop_process(worker)
        stop_process(redis_proc)
    lag, spent = result["latency"], result["cost"]
    print(
        f"page shows a finished trial after: median {lag['lag_ms_median']} ms, "
        f"p90 {lag['lag_ms_p90']} ms, max {lag['lag_ms_max']} ms ({lag['trials']} trials)"
    )
    for name in ("without", "with"):
        r = spent[name]
        print(
            f"{name:>7} {args.dashboards} dashboards: {r['rps']:.1f} polls/s, "
            f"API CPU {r['server_cpu_ms_per_request']:.3f} ms per polled request"
        )
    print(
        f"with / without: {spent['cpu_per_polled_request_ratio']:.3f}x "
        f"(the dashboards asked {spent['dashboard_requests_per_s']} requests/s of their own, "
        f"{spent['cpu_ms_per_dashboard_request']} ms of API CPU each; the watched job had "
        f"{spent['watched_trials_at_end']} trials at the end)"
    )
    save(args.out, {"args": vars(args), **result})


if __name__ == "__main__":
    main()
