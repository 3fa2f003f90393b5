"""Prometheus metrics: what the store knows (jobs, trials, queues, workers) and API latency.

Job and trial figures are read from Redis at scrape time (every API replica reports the same
numbers), so no process has to stay up to keep a count. Request latency is measured in each API
process; under gunicorn the processes share it through ``PROMETHEUS_MULTIPROC_DIR``, which
``tuneq api`` sets. Nothing here carries a tenant, job id or dataset: /metrics is public.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.multiprocess import MultiProcessCollector

from service.core.records import JobStatus
from service.core.store import TRIAL_SECONDS_BUCKETS, JobStore

REQUEST_SECONDS = Histogram(
    "tuneq_api_request_seconds",
    "API request latency by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class StoreCollector:
    """Reads the job store when Prometheus scrapes."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        stats = self.store.stats.snapshot()
        jobs = GaugeMetricFamily("tuneq_jobs", "Jobs not finished, by status", labels=["status"])
        for status, count in stats.active_jobs.items():
            jobs.add_metric([status.value], count)
        yield jobs
        done = CounterMetricFamily(
            "tuneq_jobs_finished", "Jobs that finished, by status", labels=["status"]
        )
        for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            done.add_metric([status.value], stats.jobs_finished.get(status.value, 0.0))
        yield done
        outcomes = CounterMetricFamily(
            "tuneq_trials_finished", "Trials that finished, by outcome", labels=["state"]
        )
        for state, count in sorted(stats.trials_finished.items()):
            outcomes.add_metric([state], count)
        yield outcomes
        yield _histogram(stats.trial_seconds)
        depth = GaugeMetricFamily("tuneq_queue_depth", "Tasks waiting, by queue", labels=["queue"])
        for queue, count in stats.queue_depths.items():
            depth.add_metric([queue], count)
        yield depth
        yield GaugeMetricFamily(
            "tuneq_workers_alive", "Workers with a recent heartbeat", value=stats.workers_alive
        )
        yield GaugeMetricFamily(
            "tuneq_trial_workers_wanted",
            "Trial tasks waiting or running under a live lease (what to autoscale on)",
            value=self.store.stats.demand().wanted,
        )


def _histogram(raw: Mapping[str, float]) -> HistogramMetricFamily:
    cumulative, buckets = 0.0, []
    for bound in (*TRIAL_SECONDS_BUCKETS, "+Inf"):
        cumulative += float(raw.get(str(bound), 0))
        buckets.append((str(bound) if bound == "+Inf" else f"{float(bound)}", cumulative))
    return HistogramMetricFamily(
        "tuneq_trial_duration_seconds",
        "Wall time of finished trials",
        buckets=buckets,
        sum_value=float(raw.get("sum", 0.0)),
    )


def install(app: Flask, store: JobStore) -> None:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    # Each (method, route, status) histogram child, looked up once: ``labels()`` checks and
    # locks on every call, a measurable share of a poll that the view cache made cheap.
    children: dict[tuple[str, str, int], Any] = {}

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            rule = request.url_rule
            key = (request.method, rule.rule if rule else "unmatched", response.status_code)
            child = children.get(key)
            if child is None:
                child = children[key] = REQUEST_SECONDS.labels(key[0], key[1], str(key[2]))
            child.observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    @app.get("/scaling")
    def scaling() -> Response:
        """What an autoscaler of trial workers reads (KEDA's metrics-api scaler): tasks waiting
        in the trials queue and running under a live lease, and their sum, the workers wanted.
        Counts only, like /metrics: no tenant or job appears."""
        demand = store.stats.demand()
        body = {"waiting": demand.waiting, "running": demand.running, "wanted": demand.wanted}
        return jsonify({"trials": body})
