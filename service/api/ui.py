"""``/ui``: the dashboard, static files served by the API itself (no CDN, no build step).

The page holds no tenant data: it asks for an API key and calls the API like any client, so
its files are public. No cookies are involved (the key travels in ``Authorization``), which
leaves no CSRF surface. Scripts and styles load only from here; the one inline style allowed
(by its hash) is the job report's, which the page opens as a blob document that inherits this
policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources

from flask import Blueprint, redirect, send_from_directory
from flask.typing import ResponseReturnValue

from service.api.errors import ApiError
from service.reports.report import style_source

blueprint = Blueprint("ui", __name__)

_REPORT_STYLE = base64.b64encode(hashlib.sha256(style_source().encode()).digest()).decode()
UI_POLICY = (
    f"default-src 'none'; script-src 'self'; style-src 'self' 'sha256-{_REPORT_STYLE}'; "
    "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_FILES = resources.files("service") / "ui"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def _headers(content_type: str) -> dict[str, str]:
    return {
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Security-Policy": UI_POLICY,
        "Cache-Control": "no-cache",
    }


@cache
def _examples() -> str:
    """The example specs that run on any deployment (a built-in dataset), for the editor."""
    out = {}
    for entry in sorted((resources.files("service") / "specs").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            spec = json.loads(entry.read_text())
            if "builtin" in spec.get("dataset", {}):
                out[entry.name.removesuffix(".json")] = spec
    return json.dumps(out)


@blueprint.get("/")
def root() -> ResponseReturnValue:
    return redirect("/ui", code=302)


@blueprint.get("/ui/")
def index_slash() -> ResponseReturnValue:
    return redirect("/ui", code=302)


@cache
def _index() -> str:
    return (_FILES / "index.html").read_text()


@blueprint.get("/ui")
def index() -> ResponseReturnValue:
    return _index(), 200, _headers("text/html")


@blueprint.get("/ui/<filename>")
def asset(filename: str) -> ResponseReturnValue:
    if filename == "examples.json":
        return _examples(), 200, _headers("application/json")
    suffix = filename[filename.rfind(".") :] if "." in filename else ""
    if suffix not in _TYPES or "/" in filename:
        raise ApiError(404, "not_found", f"No file {filename[:60]!r} in the dashboard.")
    response = send_from_directory(str(_FILES), filename, max_age=0)
    response.headers.update(_headers(_TYPES[suffix]))
    return response
