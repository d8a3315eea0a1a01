"""The Kubernetes manifests: valid offline (strictly), and wired the way the controller needs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "kubernetes"
sys.path.insert(0, str(ROOT / "scripts"))

import check_manifests  # noqa: E402


def _manifests(folder: Path = FOLDER) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for _, d in check_manifests.documents(folder)}


def _pod() -> dict[str, Any]:
    return _manifests()["Deployment/sepm-reconciler"]["spec"]["template"]["spec"]


def _container(name: str) -> dict[str, Any]:
    return next(c for c in _pod()["containers"] if c["name"] == name)


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def test_manifests_validate_strictly():
    """check_manifests passes the shipped folder (kubernetes-validate --strict and the CRD models)."""
    assert check_manifests.main([str(FOLDER)]) == 0


@pytest.mark.parametrize(
    ("file", "old", "new", "complaint"),
    [
        pytest.param(
            "deployment.yaml",
            "    type: Recreate\n",
            "    type: Recreate\n    surge: 1\n",
            "'surge' was unexpected",
            id="unknown-field-in-a-core-kind",
        ),
        pytest.param(
            "service.yaml",
            "      port: 9808\n",
            "      port: metrics-port\n",
            "is not of type 'integer'",
            id="wrong-type-in-a-core-kind",
        ),
        pytest.param(
            "servicemonitor.yaml",
            "scrapeTimeout",
            "scrapeTimout",
            "spec.endpoints[0].scrapeTimout",
            id="unknown-field-in-a-servicemonitor",
        ),
        pytest.param(
            "prometheusrule.yaml",
            "      for: 10m\n",
            "      for: ten minutes\n",
            "string_pattern_mismatch",
            id="bad-duration-in-a-prometheusrule",
        ),
        pytest.param(
            "kustomization.yaml",
            "  - service.yaml\n",
            "",
            "does not list service.yaml",
            id="kustomization-forgets-a-manifest",
        ),
        pytest.param(
            "kustomization.yaml",
            "  - pvc.yaml\n",
            "  - pvc.yaml\n  - secret.yaml\n",
            "would overwrite",
            id="kustomization-lists-a-secret",
        ),
    ],
)
def test_checker_rejects_broken_manifests(tmp_path, capsys, file, old, new, complaint):
    """A broken manifest fails the check, with a message that names what is wrong."""
    folder = tmp_path / "kubernetes"
    shutil.copytree(FOLDER, folder)
    text = (folder / file).read_text()
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1))
    assert check_manifests.main([str(folder)]) == 1
    assert complaint in capsys.readouterr().err


def test_one_replica_recreated_never_two_at_once():
    """One controller per journal: one replica, and Recreate so that two pods never overlap."""
    deployment = _manifests()["Deployment/sepm-reconciler"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_controller_runs_on_the_git_sync_checkout():
    """The controller reads <root>/<link>/desired-state from the volume git-sync writes, read-only."""
    sync = _container("git-sync")
    assert sync["image"].startswith("registry.k8s.io/git-sync/git-sync:v4.")
    flags = dict(arg.lstrip("-").split("=", 1) for arg in sync["args"])
    controller = _container("controller")
    assert controller["args"][:2] == ["run", f"{flags['root']}/{flags['link']}/desired-state"]
    assert controller["args"][2:] == ["--metrics-address", "0.0.0.0"]
    volume = _mounts(sync)[flags["root"]]["name"]
    assert _mounts(controller)[flags["root"]] == {
        "name": volume,
        "mountPath": flags["root"],
        "readOnly": True,
    }
    assert {"name": volume, "emptyDir": {}} in _pod()["volumes"]


def test_first_clone_is_made_before_the_controller_starts():
    """An init container clones once, with the sidecar's repository, ref, root and link."""
    init = next(c for c in _pod()["initContainers"] if c["name"] == "git-sync-init")
    assert "--one-time" in init["args"]
    assert init["image"] == _container("git-sync")["image"]
    sidecar = {
        a
        for a in _container("git-sync")["args"]
        if a.split("=")[0] in ("--repo", "--ref", "--root", "--link")
    }
    assert len(sidecar) == 4
    assert sidecar <= set(init["args"])
    assert {m["name"] for m in init["volumeMounts"]} == {
        m["name"] for m in _container("git-sync")["volumeMounts"]
    }


def test_secrets_are_files_under_run_secrets():
    """The SEPM credentials Secret is mounted read-only at /run/secrets, and holds what the example
    desired state refers to."""
    mount = _mounts(_container("controller"))["/run/secrets"]
    assert mount["readOnly"] is True
    volume = next(v for v in _pod()["volumes"] if v["name"] == mount["name"])
    secret = _manifests()[f"Secret/{volume['secret']['secretName']}"]
    referenced = set()
    for path in (ROOT / "desired-state").glob("*.yaml"):
        referenced |= {
            line.split("/run/secrets/", 1)[1].split("}")[0].strip()
            for line in path.read_text().splitlines()
            if "/run/secrets/" in line and not line.lstrip().startswith("#")
        }
    env_keys = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in _container("controller")["env"]
        if "valueFrom" in e and e["valueFrom"]["secretKeyRef"]["name"] == volume["secret"]["secretName"]
    }
    assert referenced
    assert referenced | env_keys <= set(secret["stringData"])
    assert all(value == "" for value in secret["stringData"].values()), "the template Secret holds no value"


def test_journal_is_on_the_persistent_volume_claim():
    """SEPM_RECONCILER_STATE_DIR is where the PersistentVolumeClaim is mounted, read-write."""
    controller = _container("controller")
    state_dir = next(e["value"] for e in controller["env"] if e["name"] == "SEPM_RECONCILER_STATE_DIR")
    mount = _mounts(controller)[state_dir]
    assert not mount.get("readOnly", False)
    volume = next(v for v in _pod()["volumes"] if v["name"] == mount["name"])
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert _manifests()[f"PersistentVolumeClaim/{claim}"]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_service_and_servicemonitor_reach_the_metrics_port():
    """The Service selects the pod and targets its metrics port; the ServiceMonitor selects the Service
    by its labels and scrapes that port by name, so the job is the Service's name (the alerts' job)."""
    manifests = _manifests()
    service = manifests["Service/sepm-reconciler"]
    labels = manifests["Deployment/sepm-reconciler"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port = next(p for p in _container("controller")["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == 9808
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    monitor = manifests["ServiceMonitor/sepm-reconciler"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text())
    exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
    assert f'job="{service["metadata"]["name"]}"' in exprs


def test_containers_run_unprivileged():
    """Neither container runs as root, escalates privileges or writes its root filesystem."""
    pod = _pod()
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
    assert pod["automountServiceAccountToken"] is False
