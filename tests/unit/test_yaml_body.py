"""Job specs sent as YAML: the same JSON values as a JSON body, and nothing YAML adds."""

from __future__ import annotations

import pytest

from service.api.errors import ApiError
from service.api.yaml_body import load_yaml


def test_a_yaml_document_reads_as_the_json_it_spells() -> None:
    text = b"name: demo\nsearch:\n  max_trials: 3\n  seed: 0\nchoices: [relu, tanh]\nlog: yes\n"
    assert load_yaml(text) == {
        "name": "demo",
        "search": {"max_trials": 3, "seed": 0},
        "choices": ["relu", "tanh"],
        "log": True,
    }


def test_what_json_cannot_say_comes_back_as_strings() -> None:
    loaded = load_yaml(b"when: 2026-11-30\n1: one\nkinds: !!set {a: null}\n")
    assert loaded == {"when": "2026-11-30", "1": "one", "kinds": "{'a'}"}


@pytest.mark.parametrize(
    "text",
    [
        b"a: &x [1, 2]\nb: *x\n",  # an alias
        b"a: &x 1\n",  # an anchor alone
        b"lol: &a [x, x]\nlol2: &b [*a, *a]\nlol3: [*b, *b]\n",  # the start of a bomb
    ],
)
def test_anchors_and_aliases_are_refused_with_their_line(text: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        load_yaml(text)
    assert caught.value.status == 400
    assert "anchors and aliases are not accepted" in caught.value.message
    assert "(line 1," in caught.value.message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"a: [1, 2\nb: 3\n", "line"),
        (b"\xff\xfe: 1\n", "UTF-8"),
        (b"a: !!python/object:os.system {}\n", "YAML"),
        (b"[" * 5000 + b"]" * 5000, "YAML"),
    ],
)
def test_broken_or_unsafe_documents_are_a_400(text: bytes, said: str) -> None:
    with pytest.raises(ApiError) as caught:
        load_yaml(text)
    assert caught.value.status == 400
    assert said in caught.value.message
