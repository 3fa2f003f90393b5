"""A job spec sent as YAML (``Content-Type: application/yaml``), as people write specs by hand
and the dashboard's editor sends them; read into the same JSON values as a JSON body.

Read by YAML 1.2's core schema, not PyYAML's default YAML 1.1 one:
- ``1e-4`` is a number (1.1 wants a dot);
- ``yes``, ``on`` and ``no`` are strings, as they are in JSON;
- ``010`` is ten;
- dates and ``1:30`` stay strings.

Anything YAML adds to JSON is refused:
- anchors and aliases (a few lines of aliases expand into billions of nodes for whatever walks
  the result), before anything is built;
- explicit tags, but for ``!!str``, ``!!seq`` and ``!!map``;
- keys that are not plain values (keys are kept as written: ``1`` and ``true`` stay two).

Parsing is libyaml's (C), on a body capped well below the JSON limit: the pure-Python parser
took seconds for a megabyte.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from service.api.errors import ApiError

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
MAX_YAML_BYTES = 256 * 1024

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader with YAML 1.2 core-schema scalars (null, bool, int, float; else str)."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


_CORE = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
)
for _tag, _pattern, _first in _CORE:
    CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _int(loader: Any, node: Any) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _float(loader: Any, node: Any) -> float:
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


def _bool(loader: Any, node: Any) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _mapping(loader: Any, node: Any) -> dict[str, Any]:
    """Keys as the text they were written as: JSON's keys are strings, and ``1``, ``1.0`` and
    ``true`` are three keys, not one."""
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark
            )
        out[key_node.value] = loader.construct_object(value_node, deep=True)
    return out


CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)
CoreLoader.add_constructor("tag:yaml.org,2002:bool", _bool)
CoreLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
# Explicit tags: only the ones that say what a plain document means anyway. A ``!!bool`` or
# ``!!int`` would take a value past the core schema's patterns (``!!bool maybe``).
_ALLOWED_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "seq", "map")}


def _refuse_beyond_json(text: str) -> None:
    """400 at the first anchor, alias or explicit tag beyond the core schema's, before anything
    is built."""
    for event in yaml.parse(text, Loader=CoreLoader):
        problem = None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            problem = "anchors and aliases are not accepted"
        elif getattr(event, "tag", None) not in (None, *_ALLOWED_TAGS):
            problem = f"the tag {event.tag[:60]!r} is not accepted"
        if problem:
            mark = event.start_mark
            raise ApiError(
                400,
                "bad_request",
                f"The body is not a plain YAML document (line {mark.line + 1}, column "
                f"{mark.column + 1}): {problem}.",
            )


def load_yaml(raw: bytes) -> Any:
    """The document as JSON values, or a 400 naming the line and column of what is wrong."""
    if len(raw) > MAX_YAML_BYTES:
        raise ApiError(
            413, "payload_too_large", f"A YAML body may be at most {MAX_YAML_BYTES:,} bytes."
        )
    try:
        text = raw.decode("utf-8")
        _refuse_beyond_json(text)
        value = yaml.load(text, Loader=CoreLoader)
        return json.loads(json.dumps(value))
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "The body is not UTF-8 text.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ApiError(
            400, "bad_request", f"The body is not valid YAML{where}: {exc.problem}"[:300]
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, LookupError) as exc:
        raise ApiError(400, "bad_request", f"The body is not valid YAML: {exc}"[:300]) from None
