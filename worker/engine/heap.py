"""Keeping the garbage collector off a worker's long-lived heap.

Every trial starts in a cleared Keras session, and ``keras.backend.clear_session()`` runs a full
``gc.collect()`` so that a long-lived worker's memory stays flat. A full collection walks every
object the collector tracks, and a worker process that has loaded TensorFlow, Keras,
scikit-learn and Celery tracks over half a million, nearly all of them module state that lives
as long as the process. Walking them cost a digits trial about a quarter of a second on a
2-core node, more than all of the service's own work in the trial.

``gc.freeze()`` moves every object alive at that moment into a permanent generation that
collections skip. Called once, after the ML stack is imported and before the first model is
built, it leaves the collector walking only what trials create, which it still frees.
"""

from __future__ import annotations

import functools
import gc


@functools.cache
def freeze_startup_heap() -> int:
    """Freeze this process's heap once (later calls do nothing); returns the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
