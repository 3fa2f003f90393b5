"""Models a job declares as layers (issue 15): the allowlist of layer types and their
arguments (``allowlist``), their shapes and sizes without Keras (``shapes``), the typed
declaration and its parser (``declared``, and ``graph`` for skips and branches), its slots as
the job's hyperparameters (``slots``), and a configuration's unrolled layers and size
(``sizing``).

Nothing here imports Keras or the spec package: the API validates a declaration with it, and the
worker builds the list ``sizing.expand`` gives with its own constructor table.
"""

from service.core.architecture.declared import Architecture, Layer, Repeat, Slot, parse_layers
from service.core.architecture.graph import parse_graph
from service.core.architecture.slots import vocabulary

__all__ = ["Architecture", "Layer", "Repeat", "Slot", "parse_graph", "parse_layers", "vocabulary"]
