"""The dashboard's files as the API serves them, and job specs in YAML (what its editor sends)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from service.app import create_app
from service.core.settings import Settings
from tests.helpers import api_client


def test_the_dashboard_is_public_local_and_under_a_strict_policy(settings: Settings) -> None:
    client = create_app(settings).test_client()  # no key: the page asks for one itself
    assert client.get("/").headers["Location"] == "/ui"
    page = client.get("/ui")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "connect-src 'self'" in policy
    assert "unsafe-eval" not in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "style-src 'self' 'sha256-" in policy
    assert client.get("/ui/").headers["Location"] == "/ui"
    assert "frame-ancestors 'none'" in policy
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "http" not in html.replace('href="/', "")  # nothing inline
    assert 'src="/ui/app.js"' in html
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = client.get(f"/ui/{name}")
        assert asset.status_code == 200 and asset.mimetype == kind, name
        assert asset.headers["Content-Security-Policy"] == policy
    # the key stays in the tab's session storage, never in a cookie or a URL
    api_js = client.get("/ui/api.js").get_data(as_text=True)
    assert "sessionStorage" in api_js and "document.cookie" not in api_js
    assert "Authorization" in api_js and "?key=" not in api_js


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/ui.py", "/ui/x", "/ui/..", "/ui/.js"])
def test_only_the_dashboards_own_files_are_served(settings: Settings, path: str) -> None:
    response = create_app(settings).test_client().get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/a/../../app.py", "/ui/..%2fapp.py"]
)
def test_a_path_that_climbs_out_of_the_dashboard_reaches_no_file(
    settings: Settings, path: str
) -> None:
    """The URL is normalised to one outside /ui: no route, so without a key a 401."""
    response = create_app(settings).test_client().get(path)
    assert response.status_code == 401
    assert b"create_app" not in response.data


def test_the_editors_examples_are_valid_specs_on_built_in_data(settings: Settings) -> None:
    client = api_client(settings)
    examples = client.get("/ui/examples.json").get_json()
    assert "digits-demo" in examples
    for name, spec in examples.items():
        assert "builtin" in spec["dataset"], name  # runs on any deployment
        answer = client.post("/v1/jobs", json={**spec, "search": {**spec["search"]}})
        assert answer.status_code == 202, (name, answer.get_json())
        client.post(f"/v1/jobs/{answer.get_json()['id']}/cancel", json={"refit": False})


def _yaml_post(client: Any, text: str) -> Any:
    return client.post("/v1/jobs", data=text, headers={"Content-Type": "application/yaml"})


def test_a_yaml_spec_is_a_job_like_its_json(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    answer = _yaml_post(client, yaml.safe_dump(spec))
    assert answer.status_code == 202, answer.get_json()
    job = client.get(answer.headers["Location"]).get_json()
    assert job["spec"]["search_space"].keys() == spec["search_space"].keys()
    client.post(f"{answer.headers['Location']}/cancel", json={"refit": False})

    spec["search"]["max_trials"] = 0
    wrong_json = client.post("/v1/jobs", json=spec).get_json()
    wrong_yaml = _yaml_post(client, yaml.safe_dump(spec))
    assert wrong_yaml.status_code == 422
    assert wrong_yaml.get_json()["error"]["fields"] == wrong_json["error"]["fields"]


def test_yaml_aliases_and_other_types_are_refused(settings: Settings) -> None:
    client = api_client(settings)
    bomb = "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
    answer = _yaml_post(client, bomb)
    assert answer.status_code == 400
    assert "aliases" in answer.get_json()["error"]["message"]
    other = client.post("/v1/jobs", data="name: x", headers={"Content-Type": "text/plain"})
    assert other.status_code == 415
    assert "YAML" in other.get_json()["error"]["message"]
    assert json.loads(client.get("/v1/jobs").data)["jobs"] == []  # nothing was stored
