"""A job spec sent as YAML (``Content-Type: application/yaml``), as people write specs by hand
and the dashboard's editor sends them; read into the same JSON values as a JSON body.

YAML can do more than JSON, and none of it is accepted: anchors and aliases (a few lines of
aliases expand into billions of nodes for whatever walks the result) are refused before
anything is built, only the safe loader's plain types are made, and what JSON has no word for
(dates, sets, non-string keys) comes back as the strings a JSON document would have held.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from service.api.errors import ApiError

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})


class _NoAliases(yaml.SafeLoader):
    """The safe loader, refusing anchors and aliases where it meets them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(
                None, None, "anchors and aliases are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(raw: bytes) -> Any:
    """The document as JSON values, or a 400 naming the line and column of what is wrong."""
    try:
        value = yaml.load(raw.decode("utf-8"), Loader=_NoAliases)
        return json.loads(json.dumps(value, default=str))
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "The body is not UTF-8 text.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ApiError(
            400, "bad_request", f"The body is not valid YAML{where}: {exc.problem}"[:300]
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise ApiError(400, "bad_request", f"The body is not valid YAML: {exc}"[:300]) from None
