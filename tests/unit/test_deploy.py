"""What deploys tuneq, checked offline (Docker and a cluster are not available here): the
Dockerfiles lint clean, every manifest validates against the Kubernetes schemas and the compose
files against the Compose specification, the KEDA objects point at what exists, every command
is a real ``tuneq`` command line, and every setting is documented where operators look."""

from __future__ import annotations

import copy
import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.api.openapi import OPERATIONS
from service.cli import build_parser
from service.core.contract import QUEUE_TRIALS
from service.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILES = [ROOT / "deploy" / "Dockerfile.api", ROOT / "deploy" / "Dockerfile.worker"]
COMPOSE = [ROOT / "docker-compose.yml", ROOT / "docker-compose.cpu.yml"]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (it comes with the test extra)"
    return found


def manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[dict[str, Any]]:
    return [doc for path in manifests() for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_dockerfiles_lint_clean() -> None:
    result = subprocess.run(
        [tool("hadolint"), *map(str, DOCKERFILES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", *map(str, manifests())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    unchecked = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert all("keda.sh" in line for line in unchecked), unchecked  # CRDs: checked below
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifests())


def test_compose_files_follow_the_compose_spec() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *map(str, COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def scaled_job() -> dict[str, Any]:
    (found,) = by_kind("ScaledJob").values()
    return found


def test_keda_runs_one_once_worker_per_trial_wanted() -> None:
    """Trial workers are Jobs of a ScaledJob (never stopped to scale down) that run one task
    each, on a metric of waiting and running trials that the API serves."""
    assert "Deployment" not in {d["kind"] for d in documents() if "trial" in d["metadata"]["name"]}
    spec = scaled_job()["spec"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "metrics-api"
    url = urlsplit(trigger["metadata"]["url"])
    assert url.path == "/scaling" and trigger["metadata"]["valueLocation"] == "trials.wanted"
    service = by_kind("Service")[url.hostname.split(".")[0]]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "api"}
    assert ("/scaling", "get") in OPERATIONS and OPERATIONS[("/scaling", "get")]["security"] == []
    job = spec["jobTargetRef"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    args = build_parser().parse_args(container["command"][1:])
    assert args.queues == QUEUE_TRIALS and args.once
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["restartPolicy"] == "Never" and job["backoffLimit"] == 0
    config = by_kind("ConfigMap")["tuneq-config"]["data"]
    longest = int(config["TUNEQ_MAX_TRIAL_TIME_S"])
    assert pod["terminationGracePeriodSeconds"] > longest  # SIGTERM: the trial finishes
    assert job["activeDeadlineSeconds"] >= pod["terminationGracePeriodSeconds"]


def test_keda_objects_follow_their_crd_schemas(tmp_path: Path) -> None:
    """KEDA's objects against the models generated from KEDA's CRDs, strictly (a field the
    schema does not know fails the round trip); the ScaledJob's pod template, a batch/v1 Job
    spec, against the Kubernetes schema."""
    from cloudcoil.models.keda import v1alpha1

    keda = [d for d in documents() if d["apiVersion"].startswith("keda.sh/")]
    assert keda
    for doc in keda:
        checked = copy.deepcopy(doc)
        if doc["kind"] == "ScaledJob":  # its Job spec is checked below, by Kubernetes' schema
            checked["spec"]["jobTargetRef"] = {"template": {}}
        model = getattr(v1alpha1, doc["kind"]).model_validate(checked)
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == checked
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "trial-worker", "namespace": "tuneq"},
        "spec": scaled_job()["spec"]["jobTargetRef"],
    }
    path = tmp_path / "trial-worker-job.yaml"
    path.write_text(yaml.safe_dump(job))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0 and "INFO" in result.stdout, result.stdout + result.stderr


def commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in documents():
        template = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in template.get("containers", []):
            found.append((f"{doc['metadata']['name']}", container.get("command", [])))
    for path in COMPOSE:
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            if "command" in service:
                found.append((f"{path.name}:{name}", service["command"]))
    for path in DOCKERFILES:
        cmd = re.search(r"^CMD (\[.*\])$", path.read_text(), re.M)
        assert cmd, path
        found.append((path.name, yaml.safe_load(cmd.group(1))))
    return found


def test_every_command_is_a_real_tuneq_command_line() -> None:
    parser = build_parser()
    checked = 0
    for where, command in commands():
        if not command or command[0] != "tuneq":
            assert command[0] in ("redis-server", "celery"), where  # Redis and Flower's own
            continue
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{where}: not a valid tuneq command line: {shlex.join(command)}")
        checked += 1
    assert checked >= 8


def setting_names() -> set[str]:
    return {f"TUNEQ_{field.name.upper()}" for field in dataclasses.fields(Settings)}


def test_every_setting_is_in_env_example_and_readme() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in sorted(setting_names()):
        assert re.search(rf"^# {name}=", example, re.M), f"{name} missing from .env.example"
        assert f"`{name}`" in readme, f"{name} missing from the README"
    listed = set(re.findall(r"^# (TUNEQ_[A-Z0-9_]+)=", example, re.M))
    assert listed == setting_names(), listed ^ setting_names()


def test_code_reads_no_setting_outside_settings() -> None:
    """A ``TUNEQ_*`` name in the code is a settings field (or one of the client's two); the
    Flask config key ``TUNEQ_SETTINGS`` is not an environment variable."""
    client_side = {"TUNEQ_URL", "TUNEQ_API_KEY"}
    for path in [*ROOT.glob("service/**/*.py"), *ROOT.glob("worker/**/*.py")]:
        for name in re.findall(r"(?<!config\[\")TUNEQ_[A-Z0-9_]+", path.read_text()):
            assert name in setting_names() | client_side, f"{path}: {name}"


WORKFLOW = ROOT / "deploy" / "ci" / "tuneq.yml"


def test_ci_workflow_follows_the_github_schema_and_runs_real_commands() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    parser = build_parser()
    runs = [
        step["run"]
        for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    lines = [line for run in runs for line in run.splitlines() if line.strip().startswith("tuneq ")]
    lines += [" ".join(run.split()) for run in runs if run.startswith("tuneq ")]
    assert any("--fail-under" in line for line in lines)
    for line in lines:
        parser.parse_args(shlex.split(line)[1:])
