"""The operators' model families installed in this worker's image.

Each entry point in the group ``tuneq.families`` (``service.core.families``) is loaded once per
process. A family whose object is unusable (no ``build``, a definition that does not check) is
logged and left out, so one broken package cannot stop a worker from serving the rest. The
worker publishes the definitions with its heartbeat; trials of a family look its ``build`` up
here.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.core.families import ENTRY_POINT_GROUP, FamilyDefinition, definition_from

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledFamily:
    definition: FamilyDefinition
    build: Callable[..., Any]  # build(config, inputs) -> the body's output tensor


@functools.cache
def installed() -> dict[str, InstalledFamily]:
    """The families this worker can serve, by name."""
    found: dict[str, InstalledFamily] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = entry.load()
            definition = definition_from(
                {
                    "name": getattr(plugin, "name", entry.name),
                    "hyperparameters": list(getattr(plugin, "hyperparameters", [])),
                    "tasks": getattr(plugin, "tasks", None),
                    "doc": getattr(plugin, "doc", ""),
                }
            )
            if not callable(getattr(plugin, "build", None)):
                raise ValueError("it has no build(config, inputs)")
        except Exception:  # an operator's broken package: log it, serve the others
            log.exception("model family %r (%s) cannot be served", entry.name, entry.value)
            continue
        found[definition.name] = InstalledFamily(definition, plugin.build)
    return found


def offers() -> dict[str, dict[str, Any]]:
    """What this worker publishes: each family's definition, by name."""
    return {name: family.definition.to_json() for name, family in installed().items()}


def family(name: str) -> InstalledFamily:
    """The installed family ``name``.

    Raises:
        ValueError: when this worker does not have it (deploy every worker with the same
            packages: any of them may take a trial).
    """
    found = installed().get(name)
    if found is None:
        raise ValueError(f"this worker has no model family {name!r} installed")
    return found
