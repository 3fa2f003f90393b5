"""``/docs``: Swagger UI over the API's own document, served from the ``swagger-ui-bundle``
wheel (no CDN), its scripts from files (no inline script) under a Content-Security-Policy."""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue
from swagger_ui_bundle import swagger_ui_path

blueprint = Blueprint("docs", __name__)

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tuneq API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
_DOCS_INIT = 'SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#ui"});\n'


# Swagger UI: its own scripts and styles from /docs, no inline script, the document from here.
_DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@blueprint.get("/docs")
def docs() -> ResponseReturnValue:
    return (
        _DOCS_PAGE,
        200,
        {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": _DOCS_POLICY},
    )


@blueprint.get("/docs/<path:filename>")
def assets(filename: str) -> ResponseReturnValue:
    if filename == "init.js":
        return _DOCS_INIT, 200, {"Content-Type": "text/javascript"}
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
