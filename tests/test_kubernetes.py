"""The Kubernetes manifests: valid for the API server (schema-checked offline, unknown fields
refused), consistent with the image and the configuration they ship, and running real feedgen
commands in a locked-down container."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.config import WorkerConfig
from tests.support.deploy_files import check_config, final, image_env, unknown_env

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "deploy/kubernetes"
KUBERNETES = "1.30.0"  # CronJob timeZone is stable from 1.27; 1.30 is the oldest EKS/GKE support
PEAK_RSS_MB = 150  # per render process (README, Performance)
Doc = dict[str, Any]


def documents() -> list[tuple[str, Doc]]:
    found = []
    for path in sorted(FOLDER.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found.append((path.name, doc))
    return found


def resources() -> list[tuple[str, Doc]]:
    return [(name, doc) for name, doc in documents() if doc["kind"] != "Kustomization"]


def one(kind: str, name: str | None = None) -> Doc:
    (doc,) = [
        d for _, d in resources() if d["kind"] == kind and name in (None, d["metadata"]["name"])
    ]
    return doc


def pod_specs() -> Iterator[tuple[str, Doc]]:
    for _, doc in resources():
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            yield doc["metadata"]["name"], spec["template"]["spec"]


def containers() -> Iterator[tuple[str, Doc]]:
    for name, pod in pod_specs():
        for container in pod["containers"]:
            yield name, container


def worker() -> Doc:
    spec: Doc = one("Deployment", "feedgen-worker")["spec"]["template"]["spec"]
    return spec


def shipped_config(tmp_path: Path) -> dict[str, Any]:
    _, raw = check_config(one("ConfigMap", "feedgen")["data"]["config.toml"], tmp_path)
    return raw


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi|M|G)", quantity).groups()  # type: ignore[union-attr]
    factor = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}[unit]
    return int(number) * factor


@pytest.mark.parametrize(
    "doc", [doc for _, doc in resources()], ids=[f"{n}:{d['kind']}" for n, d in resources()]
)
def test_every_manifest_is_valid_for_the_api_server(doc: Doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_kustomization_lists_the_worker_and_what_it_needs() -> None:
    (kustomization,) = [doc for _, doc in documents() if doc["kind"] == "Kustomization"]
    listed = kustomization["resources"]
    assert all((FOLDER / name).is_file() for name in listed)
    # The example Secret and the alternatives are applied on purpose, never by -k.
    assert set(listed) == {"configmap.yaml", "worker.yaml", "service.yaml"}


def test_the_shipped_configuration_is_valid(tmp_path: Path) -> None:
    config, raw = check_config(one("ConfigMap", "feedgen")["data"]["config.toml"], tmp_path)
    assert config.storage.url.startswith("s3://")
    assert raw["logging"]["format"] == "json"


def test_every_feedgen_variable_names_a_configuration_key() -> None:
    names = list(one("Secret", "feedgen")["stringData"])
    for _, container in containers():
        names += [variable["name"] for variable in container.get("env", [])]
    assert "FEEDGEN_DATABASE_URL" in names
    assert unknown_env(names) == []


def test_the_example_secret_holds_placeholders_only() -> None:
    values = one("Secret", "feedgen")["stringData"].values()
    assert all("CHANGE_ME" in value for value in values)


def test_every_container_reads_the_secret_and_the_configuration() -> None:
    for name, pod in pod_specs():
        (container,) = pod["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": "feedgen"}}], name
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert volumes[mounts["/etc/feedgen"]]["configMap"]["name"] == "feedgen", name
        assert "emptyDir" in volumes[mounts["/tmp"]], name  # the root filesystem is read-only


def test_every_container_runs_a_feedgen_command() -> None:
    commands = []
    for name, container in containers():
        assert container["command"] == ["feedgen"], name
        result = CliRunner().invoke(cli, [*container["args"], "--help"])
        assert result.exit_code == 0, f"{name}: feedgen {' '.join(container['args'])}"
        commands.append(container["args"])
    assert sorted(commands) == [["cycle"], ["db", "upgrade"], ["reconcile"], ["worker"]]


def test_every_container_runs_locked_down_as_the_image_user() -> None:
    uid, _, gid = final("USER")[0].partition(":")
    for name, pod in pod_specs():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (uid, gid), name
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, name


def test_the_probes_ask_healthz_on_the_configured_metrics_port(tmp_path: Path) -> None:
    port = shipped_config(tmp_path)["metrics"]["port"]
    assert str(port) == image_env()["FEEDGEN_METRICS_PORT"]  # the image's env wins over the file
    (container,) = worker()["containers"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports.get(get["port"], get["port"]) == port, probe


def test_the_service_and_the_scrape_annotations_name_the_metrics_port(tmp_path: Path) -> None:
    port = shipped_config(tmp_path)["metrics"]["port"]
    deployment = one("Deployment", "feedgen-worker")
    service = one("Service", "feedgen-worker")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (entry,) = service["spec"]["ports"]
    (container,) = worker()["containers"]
    assert (entry["port"], entry["targetPort"]) == (port, container["ports"][0]["name"])
    for scrape in (
        service["metadata"]["annotations"],
        deployment["spec"]["template"]["metadata"]["annotations"],
    ):
        assert scrape == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }


def test_every_pod_waits_longer_than_a_stop_takes() -> None:
    for name, pod in pod_specs():
        if name != "feedgen-db-upgrade":
            assert pod["terminationGracePeriodSeconds"] > WorkerConfig().stop_seconds, name


def test_the_worker_runs_once_and_its_jobs_never_overlap() -> None:
    assert one("Deployment", "feedgen-worker")["spec"]["replicas"] == 1
    for name in ("feedgen-cycle", "feedgen-reconcile"):
        assert one("CronJob", name)["spec"]["concurrencyPolicy"] == "Forbid", name


def test_the_cronjobs_keep_the_worker_schedule_as_closely_as_cron_allows() -> None:
    defaults = WorkerConfig()
    assert defaults.cycle_seconds < 60  # cron's finest schedule is a minute
    assert one("CronJob", "feedgen-cycle")["spec"]["schedule"] == "* * * * *"
    reconcile = one("CronJob", "feedgen-reconcile")["spec"]
    at = defaults.reconcile_at
    assert (reconcile["schedule"], reconcile["timeZone"]) == (
        f"{at.minute} {at.hour} * * *",
        "Etc/UTC",
    )


def test_memory_covers_each_render_process(tmp_path: Path) -> None:
    processes = shipped_config(tmp_path)["worker"]["processes"]
    for name, container in containers():
        resources = container["resources"]
        request = mebibytes(resources["requests"]["memory"])
        limit = mebibytes(resources["limits"]["memory"])
        assert request >= PEAK_RSS_MB * processes, name
        assert limit >= 2 * request, name
