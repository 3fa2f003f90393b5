"""The Python client of the tuneq API: standard library only, so CI images need no ML stack.

    client = Client("https://tuneq.example.com", api_key=os.environ["TUNEQ_API_KEY"])
    dataset = client.upload_dataset("train.npz")
    job = client.submit({**spec, "dataset": {"id": dataset.id}})
    job = client.wait(job.id, timeout_s=7200)
    print(job.best.metrics["test_accuracy"])

Retries only where they are safe: reads, cancel (idempotent), uploads (content-addressed),
submissions and extensions (each carries an ``Idempotency-Key``, so a retried submit never makes
two jobs and a retried extension never adds its trials twice).
A 503, a 429 or a dropped connection is retried with backoff (``Retry-After`` when given).
Each API error code has its own exception class.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.client_errors import (  # re-exported: callers import errors from the client
    ERRORS,
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TuneqError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    WaitTimeout,
)
from service.core.wire import FINISHED

RETRIED_STATUSES = (429, 502, 503, 504)
__all__ = [
    "ApiError",
    "BadRequest",
    "Best",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Dataset",
    "Job",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Trial",
    "TuneqError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "WaitTimeout",
]


@dataclass(frozen=True)
class Best:
    trial: int
    value: float | None
    params: dict[str, Any]
    configuration: dict[str, Any]
    metrics: dict[str, float]
    diagnosis: dict[str, Any] | None


@dataclass(frozen=True)
class Job:
    """A job as the API shows it; ``raw`` keeps every field."""

    id: str
    name: str
    status: str
    trials_finished: int
    trials_total: int
    metric: str
    direction: str
    best: Best | None
    error: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Job:
        best = data.get("best")
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            status=data["status"],
            trials_finished=data["progress"]["trials_finished"],
            trials_total=data["progress"]["trials_total"],
            metric=data.get("objective", {}).get("metric", ""),
            direction=data.get("objective", {}).get("direction", "max"),
            best=None
            if not best
            else Best(
                trial=best["trial"],
                value=best.get("value"),
                params=best.get("params", {}),
                configuration=best.get("configuration", {}),
                metrics=best.get("metrics", {}),
                diagnosis=best.get("diagnosis"),
            ),
            error=data.get("error"),
            raw=data,
        )


@dataclass(frozen=True)
class Trial:
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    metrics: dict[str, float]
    epochs: int
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Trial:
        return cls(
            data["number"],
            data["state"],
            data.get("params", {}),
            data.get("value"),
            data.get("metrics", {}),
            data.get("epochs", 0),
            data,
        )


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    task: str
    n_features: int
    splits: dict[str, int]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Dataset:
        return cls(data["id"], data["name"], data["task"], data["n_features"], data["splits"], data)


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 6,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    # ---- jobs

    def submit(self, spec: dict[str, Any], idempotency_key: str | None = None) -> Job:
        """Submit a job. The idempotency key (a fresh one unless given) makes retries safe."""
        key = idempotency_key or uuid.uuid4().hex
        created = self._json("POST", "/v1/jobs", spec, headers={"Idempotency-Key": key})
        return self.get(created["id"])

    def get(self, job_id: str) -> Job:
        return Job.from_api(self._json("GET", f"/v1/jobs/{job_id}"))

    def trials(self, job_id: str) -> list[Trial]:
        return [Trial.from_api(t) for t in self._json("GET", f"/v1/jobs/{job_id}/trials")["trials"]]

    def cancel(self, job_id: str, refit: bool = True) -> Job:
        """Stop the job. With ``refit`` (the default) and a best trial so far, the job is
        ``stopping`` while that trial is refit, then ``cancelled`` with its model and test
        metrics (``wait`` for it); ``refit=False`` stops at once, with no model."""
        return Job.from_api(self._json("POST", f"/v1/jobs/{job_id}/cancel", body={"refit": refit}))

    def extend(
        self,
        job_id: str,
        trials: int,
        max_duration_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Reopen a succeeded or cancelled job with ``trials`` more (``wait`` for it): the
        search goes on from all its trials, and its refit and test score run again at the end.
        ``max_duration_s``: how long the extension may run (default: the job's own limit again).
        The idempotency key (a fresh one unless given) makes retries safe."""
        body: dict[str, Any] = {"trials": trials}
        if max_duration_s is not None:
            body["max_duration_s"] = max_duration_s
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/v1/jobs/{job_id}/extend"
        return Job.from_api(self._json("POST", path, body=body, headers=headers))

    def delete(self, job_id: str) -> None:
        """Delete a finished job with its trials and model (409 while it runs)."""
        self._call("DELETE", f"/v1/jobs/{job_id}")

    def jobs(
        self, status: str | None = None, name: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The tenant's jobs, newest first (summaries: one ``get`` away from the whole job)."""
        query = urllib.parse.urlencode(
            {k: v for k, v in (("status", status), ("name", name)) if v is not None}
        )
        found: list[dict[str, Any]] = []
        cursor = None
        while len(found) < limit:
            page = min(200, limit - len(found))
            extra = f"&cursor={cursor}" if cursor else ""
            body = self._json("GET", f"/v1/jobs?limit={page}&{query}{extra}")
            found += body["jobs"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return found

    def wait(
        self,
        job_id: str,
        timeout_s: float = 3600.0,
        on_progress: Callable[[Job], None] | None = None,
        poll_s: float = 30.0,
    ) -> Job:
        """Long-poll until the job finishes; ``on_progress`` sees every change.

        Raises:
            WaitTimeout: still unfinished after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        etag: str | None = None
        job: Job | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                status = job.status if job else "unknown"
                raise WaitTimeout(f"job {job_id} still {status} after {timeout_s:.0f} s")
            wait = max(0.0, min(poll_s, left))
            headers = {"If-None-Match": etag} if etag else {}
            status, body, reply = self._call(
                "GET", f"/v1/jobs/{job_id}?wait={wait:.1f}", headers=headers, timeout=wait + 15
            )
            if status == 304:
                if wait < 1.0:  # the deadline is near: do not spin
                    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                continue
            etag = reply.get("ETag")
            job = Job.from_api(json.loads(body))
            if on_progress is not None:
                on_progress(job)
            if job.finished:
                return job

    def download_model(self, job_id: str, path: str | Path) -> Path:
        _, body, _ = self._call("GET", f"/v1/jobs/{job_id}/model")
        Path(path).write_bytes(body)
        return Path(path)

    def report(self, job_id: str, fmt: str = "html") -> str:
        """The job's report as HTML or Markdown."""
        _, body, _ = self._call("GET", f"/v1/jobs/{job_id}/report?format={fmt}")
        return body.decode()

    def plot(self, job_id: str, name: str) -> bytes:
        """A PNG plot of the job (convergence, learning_curves, objective, ...)."""
        return self._call("GET", f"/v1/jobs/{job_id}/plots/{name}")[1]

    def import_model(self, path: str | Path) -> dict[str, Any]:
        """A Keras model's architecture (a ``.keras`` file, or ``model.to_json()`` saved as
        .json) as a declared model: ``{"model": {...}, "notes": [...]}``."""
        path = Path(path)
        body, content_type = _multipart({}, "file", path.name, path.read_bytes())
        _, raw, _ = self._call(
            "POST", "/v1/models/import", data=body, headers={"Content-Type": content_type}
        )
        return dict(json.loads(raw))

    # ---- datasets

    def upload_dataset(
        self,
        path: str | Path,
        *,
        target: str | None = None,
        task: str | None = None,
        name: str | None = None,
        column_types: dict[str, str] | None = None,
    ) -> Dataset:
        """Upload an .npz or .csv (same content: same id, so a retry is harmless);
        ``column_types`` sets a CSV column's kind (numeric, categorical, boolean, text,
        ignore) instead of the inferred one."""
        path = Path(path)
        fields = {k: v for k, v in (("target", target), ("task", task), ("name", name)) if v}
        if column_types:
            fields["column_types"] = json.dumps(column_types)
        body, content_type = _multipart(fields, "file", path.name, path.read_bytes())
        _, raw, _ = self._call(
            "POST", "/v1/datasets", data=body, headers={"Content-Type": content_type}
        )
        return Dataset.from_api(json.loads(raw))

    def dataset(self, dataset_id: str) -> Dataset:
        return Dataset.from_api(self._json("GET", f"/v1/datasets/{dataset_id}"))

    def datasets(self) -> list[Dataset]:
        return [Dataset.from_api(d) for d in self._json("GET", "/v1/datasets")["datasets"]]

    # ---- transport

    def _json(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        extra = {"Content-Type": "application/json", **(headers or {})}
        _, raw, _ = self._call(method, path, data=data, headers=extra)
        return json.loads(raw or b"null")

    def _call(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes, Any]:
        """One request, retried on a dropped connection, 429, 502, 503 or 504."""
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.api_key:
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(
                self.base_url + path, data=data, method=method, headers=all_headers
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.timeout_s) as reply:
                    return reply.status, reply.read(), reply.headers
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return 304, b"", exc.headers
                payload = exc.read()
                try:
                    parsed = json.loads(payload or b"{}")
                except ValueError:
                    parsed = {}
                error = ERRORS.get(exc.code, ApiError)(exc.code, parsed, exc.headers)
                if exc.code not in RETRIED_STATUSES or attempt >= self.retries:
                    raise error from None
                delay = error.retry_after or self._delay(attempt)
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                if attempt >= self.retries:
                    raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from None
                delay = self._delay(attempt)
            attempt += 1
            time.sleep(delay)

    def _delay(self, attempt: int) -> float:
        return min(10.0, self.backoff_s * 2**attempt)


def _multipart(
    fields: dict[str, str], file_field: str, filename: str, content: bytes
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    safe = filename.replace('"', "_")
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{safe}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
