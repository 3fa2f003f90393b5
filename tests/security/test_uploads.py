"""Attacks 2, 4 and 8 on dataset uploads: a bomb inside the size limit, the tenant's byte quota,
an archive member zipfile cannot read, and deduplication that would cross tenants."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from service.core.settings import Settings
from tests.helpers import api_client
from tests.security.conftest import Api
from tests.security.wire import json_body, request

pytestmark = pytest.mark.integration


def npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def bomb() -> bytes:
    """0.5 MiB that unpack to 512 MB of float64 zeros: a million rows of 64 features (inside
    every row and feature limit), with regression targets."""
    rows, features = 1_000_000, 64
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(npy_header((rows, features), "<f8"))
            chunk = bytes(8 * features * 10_000)
            for _ in range(rows // 10_000):
                member.write(chunk)
        archive.writestr("y_train.npy", npy_header((rows,), "<f4") + bytes(4 * rows))
    return buffer.getvalue()


def multipart(data: bytes, filename: str, **form: str) -> tuple[bytes, str]:
    boundary = "tuneq-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in form.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_a_bomb_inside_the_upload_limit_is_refused_before_it_unpacks(
    start_api: Callable[..., Api],
) -> None:
    data = bomb()
    assert len(data) < 0.55 * 2**20
    api = start_api(max_dataset_bytes=64 * 2**20)
    before = {pid: peak_rss_mb(pid) for pid in api.workers()}
    body, boundary = multipart(data, "bomb.npz", task="regression")
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    for _ in range(2):  # two at once did not fit either; one after the other shows the same
        status, _, answer = request(
            api.url, "POST", "/v1/datasets", key=api.key_a, headers=headers, body=body, timeout=60
        )
        assert status == 422, answer[:300]
        assert "file" in json_body(answer)["error"]["fields"]  # from the archive's directory
    grown = {pid: peak_rss_mb(pid) - before[pid] for pid in api.workers()}
    assert max(grown.values()) < 100, grown
    _, _, listed = request(api.url, "GET", "/v1/datasets", key=api.key_a)
    assert json_body(listed)["datasets"] == []


def upload(client: FlaskClient, data: bytes, filename: str = "d.npz", **form: str) -> Any:
    return client.post(
        "/v1/datasets",
        data={"file": (io.BytesIO(data), filename), **form},
        content_type="multipart/form-data",
    )


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def blobs(seed: int, n: int = 200) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 8)).astype(np.float32) + y[:, None], y


def test_a_tenant_holds_at_most_its_byte_quota(settings: Settings) -> None:
    x, y = blobs(0)
    one = upload(api_client(settings, "probe"), npz(x_train=x, y_train=y)).get_json()["size_bytes"]
    client = api_client(dataclasses.replace(settings, max_dataset_bytes_per_tenant=int(2.5 * one)))
    ids = [upload(client, npz(x_train=blobs(s)[0], y_train=y)).get_json()["id"] for s in (1, 2)]
    refused = upload(client, npz(x_train=blobs(3)[0], y_train=y))
    assert refused.status_code == 409, refused.get_json()
    assert "quota" in refused.get_json()["error"]["message"]
    assert client.delete(f"/v1/datasets/{ids[0]}").status_code == 204
    assert upload(client, npz(x_train=blobs(3)[0], y_train=y)).status_code == 201


def highly_compressed() -> bytes:
    """An ordinary-sized dataset whose features are all zeros: 1000:1 compressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("x_train.npy", npy_header((4000, 256), "<f8") + bytes(8 * 4000 * 256))
        archive.writestr("y_train.npy", npy_header((4000,), "<i8") + np.arange(4000).tobytes())
    return buffer.getvalue()


def member_with(data: bytes, *, compress_type: int | None = None, flag_bits: int = 0) -> bytes:
    """An .npz whose x_train member claims another compression method, or encryption."""
    _, y = blobs(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("x_train.npy")
        archive.writestr(info, data)
        archive.writestr("y_train.npy", npz_member(y))
    raw = bytearray(buffer.getvalue())
    for signature, method_at, flags_at in ((b"PK\x03\x04", 8, 6), (b"PK\x01\x02", 10, 8)):
        at = raw.find(signature)  # the first entry: x_train
        if compress_type is not None:
            raw[at + method_at : at + method_at + 2] = compress_type.to_bytes(2, "little")
        raw[at + flags_at : at + flags_at + 2] = flag_bits.to_bytes(2, "little")
    return bytes(raw)


def npz_member(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        highly_compressed(),
        member_with(npz_member(blobs(0)[0]), compress_type=99),  # no such method
        member_with(npz_member(blobs(0)[0]), compress_type=zipfile.ZIP_BZIP2 + 50),
        member_with(npz_member(blobs(0)[0]), flag_bits=0x1),  # encrypted
    ],
    ids=["ratio", "method 99", "method 62", "encrypted"],
)
def test_archives_zipfile_cannot_or_should_not_read_are_422(
    settings: Settings, data: bytes
) -> None:
    client = api_client(settings)
    response = upload(client, data)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_dataset"
    assert client.get("/v1/datasets").get_json()["datasets"] == []


def test_the_same_data_from_another_tenant_reveals_nothing(settings: Settings) -> None:
    first, second = api_client(settings, "acme"), api_client(settings, "globex")
    rows = "\n".join(f"{i % 7},{i * 0.5},{i % 2}" for i in range(60))
    mine = upload(first, f"secret_a,secret_b,label\n{rows}\n".encode(), "a.csv", target="label")
    theirs = upload(second, f"public_a,public_b,label\n{rows}\n".encode(), "b.csv", target="label")
    assert mine.status_code == 201 and theirs.status_code == 201  # new to each tenant
    assert theirs.get_json()["columns"] == ["public_a", "public_b"]
    assert theirs.get_json()["id"] != mine.get_json()["id"]
    assert first.delete(f"/v1/datasets/{mine.get_json()['id']}").status_code == 204
    kept = second.get(f"/v1/datasets/{theirs.get_json()['id']}")
    assert kept.status_code == 200 and kept.get_json()["columns"] == ["public_a", "public_b"]
