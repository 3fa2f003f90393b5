"""Job specs sent as YAML: the same JSON values as a JSON body (YAML 1.2's core schema), and
nothing YAML adds."""

from __future__ import annotations

import pytest

from service.api.errors import ApiError
from service.api.yaml_body import MAX_YAML_BYTES, load_yaml


def test_a_yaml_document_reads_as_the_json_it_spells() -> None:
    text = b"name: demo\nsearch:\n  max_trials: 3\n  seed: 0\nchoices: [relu, tanh]\nlog: true\n"
    assert load_yaml(text) == {
        "name": "demo",
        "search": {"max_trials": 3, "seed": 0},
        "choices": ["relu", "tanh"],
        "log": True,
    }


def test_scalars_follow_yaml_1_2_not_1_1() -> None:
    text = (
        b"low: 1e-4\nhigh: 3E2\nyes: on\nanswer: no\ncount: 010\nhex: 0x1f\noct: 0o17\n"
        b"time: 1:30\nday: 2026-11-30\nnothing: ~\ninf: -.inf\ntext: '1e-4'\n"
    )
    assert load_yaml(text) == {
        "low": 0.0001,
        "high": 300.0,
        "yes": "on",  # YAML 1.1 read both as booleans
        "answer": "no",
        "count": 10,  # 1.1: octal 8
        "hex": 31,
        "oct": 15,
        "time": "1:30",  # 1.1: 90
        "day": "2026-11-30",  # 1.1: a date, which JSON has no word for
        "nothing": None,
        "inf": float("-inf"),
        "text": "1e-4",
    }


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"a: &x [1, 2]\nb: *x\n", "anchors and aliases"),  # an alias
        (b"a: &x 1\n", "anchors and aliases"),  # an anchor alone
        (b"lol: &a [x, x]\nlol2: &b [*a, *a]\n", "anchors and aliases"),  # a bomb's start
        (b"kinds: !!set {a: null}\n", "tag"),
        (b"a: !!python/object:os.system {}\n", "tag"),
        (b"a: !custom 1\n", "tag"),
        (b"when: !!timestamp 2026-11-30\n", "tag"),
        (b"name: !!bool maybe\n", "tag"),  # PyYAML's own bool would fail (a 500)
        (b"a: !!int 1_000\n", "tag"),
        (b"a: ! 12\n", "tag"),
    ],
)
def test_what_yaml_adds_to_json_is_refused_with_its_line(text: bytes, said: str) -> None:
    with pytest.raises(ApiError) as caught:
        load_yaml(text)
    assert caught.value.status == 400
    assert said in caught.value.message
    assert "(line 1," in caught.value.message or "(line 2," in caught.value.message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"a: [1, 2\nb: 3\n", "line"),
        (b"\xff\xfe: 1\n", "UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "YAML"),
        (b"n: " + b"9" * 5000 + b"\n", "YAML"),  # past Python's int-from-text limit
    ],
)
def test_broken_documents_are_a_400(text: bytes, said: str) -> None:
    with pytest.raises(ApiError) as caught:
        load_yaml(text)
    assert caught.value.status == 400
    assert said in caught.value.message


def test_a_yaml_body_has_its_own_smaller_limit() -> None:
    with pytest.raises(ApiError) as caught:
        load_yaml(b"a: " + b"x" * MAX_YAML_BYTES + b"\n")
    assert caught.value.status == 413


def test_keys_stay_as_written() -> None:
    """JSON's keys are strings: ``1``, ``1.0`` and ``true`` are three of them."""
    assert load_yaml(b"1: a\n1.0: b\ntrue: c\nx: !!str 12\n") == {
        "1": "a",
        "1.0": "b",
        "true": "c",
        "x": "12",
    }
    with pytest.raises(ApiError) as caught:
        load_yaml(b"? [1, 2]\n: 3\n")
    assert caught.value.status == 400 and "plain value" in caught.value.message
