"""Validate every manifest under deploy/kubernetes offline, strictly; exit 1 naming each problem.

- Kubernetes' own kinds (Deployment, Service, PersistentVolumeClaim, Secret, Namespace) are validated
  by kubernetes-validate in strict mode (unknown fields are errors), against the newest schema it ships
  and the oldest Kubernetes we support (``VERSIONS``).
- prometheus-operator's kinds (ServiceMonitor, PrometheusRule) have no schema in kubernetes-validate, which
  would only warn and pass them. They are read with the models cloudcoil generates from
  prometheus-operator's own CRDs (PyPI ``cloudcoil-models-prometheus-operator``) and written back: a field
  the CRD does not know is dropped on the way, so any difference between the two is an error (strict, as
  for the others). The rules inside the PrometheusRule are checked by promtool through
  deploy/prometheus/alerts.yaml, which it is generated from.
- ``kustomization.yaml`` must list every manifest of the folder except the Secrets (kept out on purpose).
- A kind neither of these knows is an error, never a silent pass.

    python scripts/check_manifests.py [FOLDER]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kubernetes_validate

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes we support and the newest kubernetes-validate knows."""
KUSTOMIZATION = "kustomization.yaml"


def documents(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*.yaml")):
        if path.name == KUSTOMIZATION:
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path, document


def check_document(path: Path, document: dict[str, Any]) -> list[str]:
    """Problems with one manifest (an empty list when it is valid)."""
    kind = document.get("kind", "?")
    where = f"{path.name}: {kind}/{document.get('metadata', {}).get('name', '?')}"
    if document.get("apiVersion", "").startswith("monitoring.coreos.com/"):
        return [f"{where}: {problem}" for problem in check_prometheus_operator(document)]
    problems = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            field = ".".join(str(p) for p in error.path) or "(top)"
            problems.append(f"{where}: Kubernetes {version}: {field}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: {error.message}")
    return problems


def check_prometheus_operator(document: dict[str, Any]) -> list[str]:
    # Imported here: only these two kinds need the (large) generated models.
    from cloudcoil.models.prometheus_operator import v1  # noqa: PLC0415

    models = {"ServiceMonitor": v1.ServiceMonitor, "PrometheusRule": v1.PrometheusRule}
    model = models.get(document.get("kind", ""))
    if model is None or document.get("apiVersion") != "monitoring.coreos.com/v1":
        return [f"no CRD model for {document.get('apiVersion')} {document.get('kind')}"]
    try:
        parsed = model.model_validate(document)
    except ValueError as error:
        return [str(error)]
    back = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    return [
        f"{field}: not in the CRD's schema, or of the wrong type" for field in differences(document, back)
    ]


def differences(given: Any, kept: Any, path: str = "") -> list[str]:
    """Paths where ``kept`` (the model's view) differs from ``given`` (the manifest)."""
    if isinstance(given, dict) and isinstance(kept, dict):
        found = []
        for key in given:
            where = f"{path}.{key}" if path else str(key)
            found += [where] if key not in kept else differences(given[key], kept[key], where)
        return found
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            d
            for i, (g, k) in enumerate(zip(given, kept, strict=True))
            for d in differences(g, k, f"{path}[{i}]")
        ]
    return [] if given == kept else [path or "(top)"]


def check_kustomization(folder: Path) -> list[str]:
    listed = set(yaml.safe_load((folder / KUSTOMIZATION).read_text(encoding="utf-8"))["resources"])
    secrets = {p.name for p, d in documents(folder) if d.get("kind") == "Secret"}
    present = {p.name for p in folder.glob("*.yaml")} - {KUSTOMIZATION}
    problems = [
        f"{KUSTOMIZATION}: lists {name}, which is not in the folder" for name in sorted(listed - present)
    ]
    problems += [f"{KUSTOMIZATION}: does not list {name}" for name in sorted(present - listed - secrets)]
    problems += [
        f"{KUSTOMIZATION}: lists the Secret file {name}; `apply -k` would overwrite the real secret"
        for name in sorted(listed & secrets)
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else FOLDER
    problems = check_kustomization(folder)
    count = 0
    for path, document in documents(folder):
        count += 1
        problems += check_document(path, document)
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    if problems:
        return 1
    versions = " and ".join(VERSIONS)
    print(f"{count} manifests valid (kubernetes-validate --strict against {versions}; CRD kinds against "
          "prometheus-operator's models); kustomization.yaml lists them all but the Secrets")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
