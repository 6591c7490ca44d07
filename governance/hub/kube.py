"""Obligations on Kubernetes: KubeSpawner settings before start, and a final check on the pod itself.

KubeSpawner applies `profile_list` overrides inside `start()`, after the pre-spawn hook, so settings
made in the hook can be overwritten. `modify_pod_hook` runs on the finished pod manifest just before
it is created and re-imposes the decision: image, CPU/memory/GPU limits, exactly the granted dataset
volumes mounted read-only in the notebook container only, egress/decision labels and a deadline.

The kubernetes client is not imported: the pod is handled by the attribute names of `V1Pod`,
`V1PodSpec`, `V1Container`, `V1ResourceRequirements`, `V1Volume` and `V1VolumeMount` (snake_case),
and plain dicts in the API's camelCase are accepted wherever a model may be (new volumes and mounts
are added as such dicts, which the client's serializer sends as they are).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from governance.hub.client import Mount, Obligations

VOLUME_PREFIX = "gov-ds-"
LABEL_PREFIX = "five-safes/"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
NOTEBOOK_CONTAINER = "notebook"
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]{0,2})$")
_SUFFIX = {
    "": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


# --- duck-typed access: model objects (snake_case attributes) or dicts (camelCase keys) ----------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _get(obj: Any, attr: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(_camel(attr), obj.get(attr))
    return getattr(obj, attr, None)


def _set(obj: Any, attr: str, value: Any) -> None:
    if isinstance(obj, dict):
        obj.pop(attr, None)
        obj[_camel(attr)] = value
    else:
        setattr(obj, attr, value)


# --- mapping obligations to Kubernetes objects ---------------------------------------------------


def volume_name(dataset: str) -> str:
    name = f"{VOLUME_PREFIX}{dataset}"
    if _DNS_LABEL.match(name):
        return name
    digest = hashlib.sha256(dataset.encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9-]", "-", dataset.lower())[:40].strip("-")
    return f"{VOLUME_PREFIX}{stem}-{digest}" if stem else f"{VOLUME_PREFIX}{digest}"


def volume_source(storage_uri: str) -> tuple[dict[str, Any], str | None]:
    """Read-only volume source (camelCase) and optional subPath for a dataset's storage URI.

    Supported: `pvc://<claim>[/<sub/path>]` and `nfs://<server>/<export/path>`. Anything else raises
    ValueError, so an unknown storage kind stops the launch instead of starting without the data
    controls.
    """
    parts = urlsplit(storage_uri)
    if parts.scheme == "pvc":
        claim, sub_path = parts.netloc, parts.path.strip("/") or None
        if not _DNS_SUBDOMAIN.match(claim):
            raise ValueError("pvc:// storage URI has an invalid claim name")
        if sub_path is not None and (".." in sub_path.split("/") or "//" in sub_path):
            raise ValueError("pvc:// storage URI has an invalid sub-path")
        return {"persistentVolumeClaim": {"claimName": claim, "readOnly": True}}, sub_path
    if parts.scheme == "nfs":
        if not parts.hostname or not parts.path.startswith("/") or ".." in parts.path.split("/"):
            raise ValueError("nfs:// storage URI needs a server and an absolute export path")
        return {"nfs": {"server": parts.hostname, "path": parts.path, "readOnly": True}}, None
    raise ValueError(f"unsupported dataset storage scheme {parts.scheme!r}")


def dataset_volumes(mounts: list[Mount]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume mounts) for the granted datasets, all read-only."""
    volumes: list[dict[str, Any]] = []
    volume_mounts: list[dict[str, Any]] = []
    for mount in mounts:
        name = volume_name(mount["dataset"])
        source, sub_path = volume_source(mount["storage_uri"])
        volumes.append({"name": name, **source})
        entry: dict[str, Any] = {"name": name, "mountPath": mount["mount_path"], "readOnly": True}
        if sub_path:
            entry["subPath"] = sub_path
        volume_mounts.append(entry)
    return volumes, volume_mounts


def governance_labels(obligations: Obligations, decision_id: str, project: str) -> dict[str, str]:
    labels = {"egress": obligations["egress"], "project": project, "decision-id": decision_id}
    return {LABEL_PREFIX + k: v for k, v in labels.items() if _LABEL_VALUE.match(v)}


def apply_to_kubespawner(spawner: Any, obligations: Obligations, *, decision_id: str, project: str) -> None:
    """Set KubeSpawner's image, dataset volumes, labels and annotations from the obligations."""
    volumes, mounts = dataset_volumes(obligations["mounts"])
    spawner.image = obligations["image"]
    spawner.volumes = [v for v in spawner.volumes if not _is_ours(v)] + volumes
    spawner.volume_mounts = [m for m in spawner.volume_mounts if not _is_ours(m)] + mounts
    if hasattr(spawner, "extra_labels"):
        spawner.extra_labels = {
            **spawner.extra_labels,
            **governance_labels(obligations, decision_id, project),
        }
    if hasattr(spawner, "extra_annotations"):
        spawner.extra_annotations = {
            **spawner.extra_annotations,
            LABEL_PREFIX + "expires-at": obligations["expires_at"],
        }


def _is_ours(volume_or_mount: Any) -> bool:
    return str(_get(volume_or_mount, "name") or "").startswith(VOLUME_PREFIX)


# --- the final check on the pod ------------------------------------------------------------------


def parse_quantity(text: Any) -> float | None:
    """A Kubernetes quantity ("500m", "2", "4Gi", "1.5G") as a float, or None if not understood."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _enforce_resources(container: Any, obligations: Obligations, gpu_resource: str) -> None:
    resources = _get(container, "resources")
    if resources is None:
        resources = {}
        _set(container, "resources", resources)
    limits = dict(_get(resources, "limits") or {})
    requests = dict(_get(resources, "requests") or {})
    cpu = obligations["cpu_limit"]
    memory = int(obligations["memory_limit_gb"] * 2**30)
    limits["cpu"] = f"{max(1, math.floor(cpu * 1000))}m"
    limits["memory"] = str(memory)
    for name, ceiling in (("cpu", cpu), ("memory", float(memory))):
        asked = parse_quantity(requests[name]) if name in requests else None
        if name in requests and (asked is None or asked > ceiling):
            requests[name] = limits[name]
    for table in (limits, requests):  # GPUs only as granted, under the one configured resource name
        for key in [k for k in table if k.endswith("/gpu")]:
            del table[key]
    if obligations["gpu_limit"] > 0:
        limits[gpu_resource] = requests[gpu_resource] = str(obligations["gpu_limit"])
    _set(resources, "limits", limits)
    _set(resources, "requests", requests)


def _deadline_seconds(expires_at: str, now: datetime | None = None) -> int:
    expires = datetime.fromisoformat(expires_at)
    if expires.tzinfo is None:
        raise ValueError("expires_at has no time zone")
    remaining = math.ceil((expires - (now or datetime.now(UTC))).total_seconds())
    if remaining <= 0:
        raise RuntimeError("the launch decision has already expired; refusing to create the pod")
    return remaining


def _under(path: str, parent: str) -> bool:
    return path.rstrip("/") == parent or path.startswith(parent + "/")


def modify_pod_hook(spawner: Any, pod: Any) -> Any:
    """`c.KubeSpawner.modify_pod_hook`: make the pod match the governance decision, or refuse.

    Raises RuntimeError when the spawner carries no decision (the pre-spawn hook did not run), so a
    misconfigured hub cannot start pods without the controls.
    """
    obligations: Obligations | None = getattr(spawner, "governance_obligations", None)
    decision_id = str(getattr(spawner, "governance_decision_id", "") or "")
    project = str(getattr(spawner, "governance_project", "") or "")
    if not isinstance(obligations, dict) or not decision_id:
        raise RuntimeError("no governance decision on this spawner; refusing to create the pod")
    gpu_resource = str(getattr(spawner, "governance_gpu_resource", DEFAULT_GPU_RESOURCE))
    spec = pod.spec
    containers = list(_get(spec, "containers") or [])
    if not containers:
        raise RuntimeError("pod has no containers")
    notebook = next((c for c in containers if _get(c, "name") == NOTEBOOK_CONTAINER), containers[0])

    _set(notebook, "image", obligations["image"])
    _enforce_resources(notebook, obligations, gpu_resource)

    volumes, mounts = dataset_volumes(obligations["mounts"])
    _set(spec, "volumes", [v for v in (_get(spec, "volumes") or []) if not _is_ours(v)] + volumes)
    dataset_paths = [m["mountPath"] for m in mounts]
    for container in containers + list(_get(spec, "init_containers") or []):
        kept = [
            m
            for m in (_get(container, "volume_mounts") or [])
            if not _is_ours(m) and not any(_under(str(_get(m, "mount_path")), p) for p in dataset_paths)
        ]
        if container is notebook:
            kept += mounts
        _set(container, "volume_mounts", kept)

    metadata = _get(pod, "metadata")
    if metadata is not None:
        _set(
            metadata,
            "labels",
            {**(_get(metadata, "labels") or {}), **governance_labels(obligations, decision_id, project)},
        )
        _set(
            metadata,
            "annotations",
            {**(_get(metadata, "annotations") or {}), LABEL_PREFIX + "expires-at": obligations["expires_at"]},
        )
    _set(spec, "active_deadline_seconds", _deadline_seconds(obligations["expires_at"]))
    return pod
