"""The Kubernetes manifests (k8s/), rendered with ``kubectl kustomize`` and checked offline:
probes on the health endpoints, exactly one beat, no secret values in the repository, every
container non-root with limits, a PDB per Deployment, the migration Job, the network policy."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
IMAGE_UID = 10001  # docker/Dockerfile: USER 10001:10001
SECRET_NAME = "backoffice-secrets"
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|(^|_)URL$")  # URLs carry the passwords
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob")


def render(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests cannot be rendered (kubectl kustomize)")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def with_fix_gateway(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The production overlay with the optional FIX gateway component switched on."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    overlay = copy / "overlays" / "production" / "kustomization.yaml"
    text = overlay.read_text()
    enabled = text.replace("# components:", "components:").replace(
        "#   - ../../components/fix-gateway", "  - ../../components/fix-gateway"
    )
    assert enabled != text
    overlay.write_text(enabled)
    return render(copy / "overlays" / "production")


RENDERINGS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}


@pytest.fixture(scope="module", params=[*RENDERINGS, "production+fix-gateway"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    if request.param == "production+fix-gateway":
        return request.getfixturevalue("with_fix_gateway")
    return render(RENDERINGS[request.param])


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOADS]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


# --- the web process ----------------------------------------------------------------------


def test_web_probes_point_at_the_health_endpoints(docs):
    web = named(docs, "Deployment", "backoffice-web")
    (container,) = pod_spec(web)["containers"]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"livenessProbe": "/health/live", "readinessProbe": "/health/ready", "startupProbe": "/health/live"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in port_names or get["port"] in port_names.values()
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
        # production settings: a Host outside DJANGO_ALLOWED_HOSTS is a 400, plain HTTP a redirect
        assert headers == {"Host": "localhost", "X-Forwarded-Proto": "https"}, probe
    config = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("backoffice-config"))
    assert "localhost" in config["data"]["DJANGO_ALLOWED_HOSTS"].split(",")


def test_the_service_reaches_the_web_pods_on_their_port(docs):
    web = named(docs, "Deployment", "backoffice-web")
    service = named(docs, "Service", "backoffice-web")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(web))
    for other in workloads(docs):
        if other is not web:
            assert not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(other)), other["metadata"]
    (container,) = pod_spec(web)["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


# --- Celery -------------------------------------------------------------------------------


def test_exactly_one_beat(docs):
    beats = [w for w in workloads(docs) if "start-beat.sh" in str(pod_spec(w)["containers"])]
    assert len(beats) == 1
    (beat,) = beats
    assert beat["kind"] == "Deployment"
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    autoscaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert beat["metadata"]["name"] not in autoscaled


def test_a_worker_deployment_for_every_queue(docs):
    queues: dict[str, str] = {}
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            if "start-worker.sh" in str(container.get("command")):
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                for queue in env["CELERY_QUEUES"].split(","):
                    assert queue not in queues, f"queue {queue} in two Deployments"
                    queues[queue] = workload["metadata"]["name"]
    assert set(queues) == set(settings.CELERY_TASK_QUEUES)  # celery, brokers, sequencers, scheduled
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= set(queues)


def test_a_migration_job_and_every_process_waits_for_it(docs):
    jobs = [j for j in of_kind(docs, "Job") if "start-migrate.sh" in str(pod_spec(j)["containers"])]
    assert [j["metadata"]["name"] for j in jobs] == ["backoffice-migrate"]
    assert pod_spec(jobs[0])["restartPolicy"] == "Never"
    for deployment in of_kind(docs, "Deployment"):
        init = pod_spec(deployment).get("initContainers", [])
        assert [c["command"] for c in init] == [["/app/docker/wait-for-migrations.sh"]], deployment["metadata"]


def test_the_scripts_the_manifests_run_are_in_the_image():
    for path in ("start-web.sh", "start-worker.sh", "start-beat.sh", "start-migrate.sh", "wait-for-migrations.sh"):
        script = ROOT / "docker" / path
        assert script.exists()
        assert script.stat().st_mode & 0o111, f"{path} is not executable"


# --- secrets ------------------------------------------------------------------------------


def test_no_secret_value_in_the_manifests(docs):
    assert not [s for s in of_kind(docs, "Secret") if s.get("data") or s.get("stringData")]
    for workload in workloads(docs):
        for container in containers(workload):
            for var in container.get("env", []):
                if SECRET_LIKE.search(var["name"]):
                    assert "value" not in var, f"{var['name']} inline in {workload['metadata']['name']}"
                    assert "secretKeyRef" in var.get("valueFrom", {}), var
            refs = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
            assert refs == [SECRET_NAME], (workload["metadata"]["name"], container["name"])
    for config in of_kind(docs, "ConfigMap"):
        leaked = [k for k in config.get("data", {}) if SECRET_LIKE.search(k)]
        assert not leaked, f"secret-like keys in ConfigMap {config['metadata']['name']}: {leaked}"


def test_no_secret_generator_in_the_repository():
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert "secretGenerator" not in yaml.safe_load(kustomization.read_text()), kustomization


# --- pods ---------------------------------------------------------------------------------


def test_every_container_is_non_root_read_only_and_limited(docs):
    for workload in workloads(docs):
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            own = container.get("securityContext", {})
            effective = {**pod, **own}
            assert effective.get("runAsNonRoot") is True, where
            assert effective.get("runAsUser") == IMAGE_UID, where
            assert own.get("allowPrivilegeEscalation") is False, where
            assert own.get("readOnlyRootFilesystem") is True, where
            assert own.get("capabilities", {}).get("drop") == ["ALL"], where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, f"{where}: /tmp must be a writable emptyDir"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, f"{where}: {bound}"


def test_every_deployment_has_its_own_pod_disruption_budget(docs):
    budgets = of_kind(docs, "PodDisruptionBudget")
    deployments = of_kind(docs, "Deployment")
    for deployment in deployments:
        covering = [b for b in budgets if selects(b["spec"]["selector"], pod_labels(deployment))]
        assert len(covering) == 1, deployment["metadata"]["name"]
    for budget in budgets:  # and none spans two Deployments (their pods would share one budget)
        covered = [d for d in deployments if selects(budget["spec"]["selector"], pod_labels(d))]
        assert len(covered) == 1, budget["metadata"]["name"]


def test_every_pod_is_under_the_default_deny_policy(docs):
    policies = of_kind(docs, "NetworkPolicy")
    (deny,) = [p for p in policies if p["metadata"]["name"] == "backoffice-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for workload in workloads(docs):
        assert selects(deny["spec"]["podSelector"], pod_labels(workload)), workload["metadata"]["name"]


def test_only_the_web_pods_accept_connections_on_their_port(docs):
    web = named(docs, "Deployment", "backoffice-web")
    (container,) = pod_spec(web)["containers"]
    web_ports = {p["containerPort"] for p in container["ports"]}
    for policy in of_kind(docs, "NetworkPolicy"):
        if not policy["spec"].get("ingress"):
            continue
        selected = [w for w in workloads(docs) if selects(policy["spec"]["podSelector"], pod_labels(w))]
        assert selected == [web], policy["metadata"]["name"]
        for rule in policy["spec"]["ingress"]:
            assert {p["port"] for p in rule["ports"]} <= web_ports


def test_egress_reaches_the_services_the_processes_need(docs):
    allowed: set[tuple[int, str]] = set()
    worker = named(docs, "Deployment", "backoffice-worker-celery")
    for policy in of_kind(docs, "NetworkPolicy"):
        if selects(policy["spec"]["podSelector"], pod_labels(worker)):
            for rule in policy["spec"].get("egress", []):
                allowed |= {(p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}
    needed = {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (5672, "TCP"), (6379, "TCP"), (587, "TCP")}
    assert needed <= allowed


# --- the production overlay ---------------------------------------------------------------


def test_production_sets_the_image_replicas_and_namespace():
    docs = render(RENDERINGS["production"])
    images = {c["image"] for w in workloads(docs) for c in containers(w)}
    (image,) = images  # one image for every process
    name, _, tag = image.rpartition(":")
    assert "/" in name and tag and tag != "latest" and "never-deploy" not in tag
    assert {d["metadata"].get("namespace") for d in docs} == {"backoffice"}
    assert named(docs, "Deployment", "backoffice-web")["spec"]["replicas"] >= 2
    assert named(docs, "Deployment", "backoffice-beat")["spec"]["replicas"] == 1
    config = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("backoffice-config"))
    assert config["data"]["REPORTS_S3_BUCKET"]  # pods do not share a disk: report files go to the bucket
    base = render(RENDERINGS["base"])
    base_web = next(c for c in containers(named(base, "Deployment", "backoffice-web")) if c["name"] == "web")
    prod_web = next(c for c in containers(named(docs, "Deployment", "backoffice-web")) if c["name"] == "web")
    assert prod_web["resources"] != base_web["resources"]


def test_the_fix_gateway_component_is_one_pod_with_a_persistent_store(with_fix_gateway):
    gateway = named(with_fix_gateway, "Deployment", "backoffice-fix-gateway")
    assert gateway["spec"]["replicas"] == 1
    assert gateway["spec"]["strategy"] == {"type": "Recreate"}
    config = next(d for d in of_kind(with_fix_gateway, "ConfigMap") if d["metadata"]["name"].startswith("backoffice"))
    assert config["data"]["FIX44_ENABLED"] == "true"
    (store,) = [v for v in pod_spec(gateway)["volumes"] if "persistentVolumeClaim" in v]
    (container,) = pod_spec(gateway)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[store["name"]] == config["data"]["FIX44_DATA_DIR"]
