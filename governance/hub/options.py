"""The spawn form: what a researcher may choose, and strict parsing of what comes back.

`user_options` reaches the hub either from this form (through `options_from_form`) or straight from a
REST body (`POST /hub/api/users/{name}/server`), so `validate_user_options` is also run by the
pre-spawn hook. Unknown keys are refused: KubeSpawner, for one, gives meaning to keys such as
`profile` holding a mapping, which must never be reachable from user input.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypedDict

from tornado.web import HTTPError

from governance.hub.client import (
    GovernanceClient,
    GovernanceUnavailable,
    LaunchOptions,
    ProfileOption,
    ProjectOption,
)

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_DATASETS = 50
MAX_CPU = 1024.0
MAX_MEMORY_GB = 65536.0
MAX_GPU = 64
ALLOWED_KEYS: frozenset[str] = frozenset({"project", "profile", "datasets", "cpu", "memory_gb", "gpu"})
_DECIMAL = re.compile(r"^[0-9]{1,6}(?:\.[0-9]{1,3})?$")
_INTEGER = re.compile(r"^[0-9]{1,3}$")


class LaunchChoice(TypedDict):
    project: str
    profile: str
    datasets: list[str]
    cpu: float | None
    memory_gb: float | None
    gpu: int | None


class InvalidOptions(HTTPError):
    """A 400 whose message JupyterHub shows as is (on the form, the spawn page and in REST answers)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid launch options: %s", message, reason="Bad Request")
        self.jupyterhub_message = message


def hub_error(message: str, *, reason: str, status_code: int, message_html: str = "") -> Exception:
    """The exception JupyterHub turns into an error page / REST error with `message` for the user.

    JupyterHub 6 has SpawnException: counted as a handled failure, logged without a traceback. On 5.x we
    fall back to tornado's HTTPError with `jupyterhub_message`. `jupyterhub_message` is set in both
    cases because the spawn-progress stream (`format_exception`) otherwise shows the exception's repr.
    """
    exc: Exception
    try:
        from jupyterhub.spawner import SpawnException
    except ImportError:
        exc = HTTPError(status_code, "%s", message, reason=reason)
    else:
        exc = SpawnException(message, reason=reason, status_code=status_code, message_html=message_html)
    setattr(exc, "jupyterhub_message", message)  # noqa: B010 - attribute unknown to the type checker
    if message_html:
        setattr(exc, "jupyterhub_html_message", message_html)  # noqa: B010
    return exc


# --- validation ---------------------------------------------------------------------------------


def _slug(value: Any, name: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise InvalidOptions(f"{name} must be a short identifier of lower-case letters, digits and dashes.")
    return value


def _optional_number(value: Any, name: str, maximum: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptions(f"{name} must be a number.")
    number = float(value)
    if not math.isfinite(number) or number <= 0 or number > maximum:
        raise InvalidOptions(f"{name} must be greater than 0 and at most {maximum:g}.")
    return number


def _optional_int(value: Any, name: str, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptions(f"{name} must be a whole number.")
    if value < 0 or value > maximum:
        raise InvalidOptions(f"{name} must be between 0 and {maximum}.")
    return value


def validate_user_options(raw: Any) -> LaunchChoice:
    """Check `spawner.user_options` strictly; raise InvalidOptions (HTTP 400) on anything unexpected."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidOptions("Choose a project and an environment before starting a server.")
    unknown = sorted(k if isinstance(k, str) else repr(k) for k in raw if k not in ALLOWED_KEYS)
    if unknown:
        raise InvalidOptions(f"Unknown launch option(s): {', '.join(unknown)[:200]}.")
    if "project" not in raw or "profile" not in raw:
        raise InvalidOptions("Choose a project and an environment before starting a server.")
    datasets_raw = raw.get("datasets", [])
    if not isinstance(datasets_raw, list):
        raise InvalidOptions("datasets must be a list of dataset identifiers.")
    if len(datasets_raw) > MAX_DATASETS:
        raise InvalidOptions(f"At most {MAX_DATASETS} datasets can be opened at once.")
    datasets = [_slug(d, "Each dataset") for d in datasets_raw]
    if len(set(datasets)) != len(datasets):
        raise InvalidOptions("A dataset is listed more than once.")
    return {
        "project": _slug(raw["project"], "project"),
        "profile": _slug(raw["profile"], "profile"),
        "datasets": datasets,
        "cpu": _optional_number(raw.get("cpu"), "cpu", MAX_CPU),
        "memory_gb": _optional_number(raw.get("memory_gb"), "memory_gb", MAX_MEMORY_GB),
        "gpu": _optional_int(raw.get("gpu"), "gpu", MAX_GPU),
    }


def _single(formdata: Mapping[str, list[str]], key: str) -> str | None:
    values = formdata.get(key, [])
    if not isinstance(values, list) or len(values) > 1:
        raise InvalidOptions(f"{key} was sent more than once.")
    if not values:
        return None
    if not isinstance(values[0], str):
        raise InvalidOptions(f"{key} must be text.")
    return values[0].strip() or None


def _parse_decimal(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    if not _DECIMAL.match(text):
        raise InvalidOptions(f"{name} must be a number such as 2 or 1.5.")
    return float(text)


def options_from_form(formdata: Mapping[str, list[str]], spawner: Any = None) -> dict[str, Any]:
    """Turn the spawn form's fields (a dict of lists of strings) into validated `user_options`.

    Fields: `launch` = "project/profile" (one radio group, so the profile always belongs to the
    project), `datasets` = "project/dataset" (checkboxes), optional `cpu`, `memory_gb`, `gpu`.
    Keys starting with "_" (JupyterHub's `_xsrf`) are ignored; any other unknown key is refused.
    """
    del spawner  # accepted so JupyterHub passes it; parsing needs nothing from it
    form_keys = {"launch", "datasets", "cpu", "memory_gb", "gpu"}
    unknown = sorted(k for k in formdata if not k.startswith("_") and k not in form_keys)
    if unknown:
        raise InvalidOptions(f"Unknown form field(s): {', '.join(unknown)[:200]}.")
    launch = _single(formdata, "launch")
    if launch is None or launch.count("/") != 1:
        raise InvalidOptions("Choose a project and an environment before starting a server.")
    project, profile = launch.split("/")
    datasets: list[str] = []
    raw_datasets = formdata.get("datasets", [])
    if not isinstance(raw_datasets, list):
        raise InvalidOptions("datasets must be a list.")
    for value in raw_datasets:
        if not isinstance(value, str) or value.count("/") != 1:
            raise InvalidOptions("A dataset choice was not understood.")
        owner, dataset = value.split("/")
        if owner != project:
            raise InvalidOptions(
                f"Dataset {dataset[:64]!r} was ticked under project {owner[:64]!r}, "
                f"but the server is for project {project[:64]!r}."
            )
        datasets.append(dataset)
    gpu_text = _single(formdata, "gpu")
    if gpu_text is not None and not _INTEGER.match(gpu_text):
        raise InvalidOptions("gpu must be a whole number.")
    options: dict[str, Any] = {
        "project": project,
        "profile": profile,
        "datasets": datasets,
        "cpu": _parse_decimal(_single(formdata, "cpu"), "cpu"),
        "memory_gb": _parse_decimal(_single(formdata, "memory_gb"), "memory_gb"),
        "gpu": int(gpu_text) if gpu_text is not None else None,
    }
    return dict(validate_user_options(options))


# --- rendering ----------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _profile_label(profile: ProfileOption) -> str:
    parts = [
        f"data up to tier {profile['max_tier']}",
        f"{profile['cpu']:g} CPU",
        f"{profile['memory_gb']:g} GB",
    ]
    if profile["gpu"]:
        parts.append(f"{profile['gpu']} GPU")
    if profile["mfa_required"]:
        parts.append("needs multi-factor sign-in")
    return f"<strong>{_e(profile['title'] or profile['slug'])}</strong> ({_e(', '.join(parts))})"


def _project_html(index: int, project: ProjectOption, checked: bool) -> str:
    slug = project["slug"]
    rows = [
        f'<fieldset class="governance-project" style="margin-bottom:1em">'
        f"<legend>{_e(project['title'] or slug)} <small>({_e(slug)}, tier {project['tier']})</small></legend>"
    ]
    if not project["profiles"]:
        rows.append("<p>No environment is available to this project.</p>")
    for j, profile in enumerate(project["profiles"]):
        input_id = f"governance-launch-{index}-{j}"
        mark = " checked" if checked and j == 0 else ""
        rows.append(
            f'<div class="form-check"><input class="form-check-input" type="radio" name="launch" '
            f'id="{input_id}" value="{_e(slug)}/{_e(profile["slug"])}" required{mark}>'
            f'<label class="form-check-label" for="{input_id}">{_profile_label(profile)}</label></div>'
        )
    if project["datasets"]:
        rows.append("<p style='margin:.5em 0 0'>Datasets to open (read-only):</p>")
    for j, dataset in enumerate(project["datasets"]):
        input_id = f"governance-dataset-{index}-{j}"
        rows.append(
            f'<div class="form-check"><input class="form-check-input" type="checkbox" name="datasets" '
            f'id="{input_id}" value="{_e(slug)}/{_e(dataset["slug"])}">'
            f'<label class="form-check-label" for="{input_id}">{_e(dataset["title"] or dataset["slug"])} '
            f"<small>({_e(dataset['slug'])}, tier {dataset['tier']})</small></label></div>"
        )
    rows.append("</fieldset>")
    return "".join(rows)


def render_options_form(options: LaunchOptions) -> str:
    """HTML fragment for JupyterHub's spawn page (JupyterHub supplies the <form> and the button)."""
    projects = options["projects"]
    if not projects:
        return (
            '<div class="governance-launch"><p>You are not an active member of an approved project, '
            "so there is nothing to start yet. Ask your project lead or the TRE support desk.</p></div>"
        )
    parts = [
        '<div class="governance-launch">',
        "<p>Choose the project you are working on and an environment. Only the datasets you tick "
        "are opened; every launch is checked against the Five Safes.</p>",
    ]
    parts += [_project_html(i, p, checked=i == 0) for i, p in enumerate(projects)]
    parts.append(
        '<fieldset class="governance-resources"><legend>Resources (optional; blank means the '
        "environment's default)</legend>"
        '<label for="governance-cpu">CPU</label> '
        f'<input id="governance-cpu" name="cpu" type="number" min="0.1" max="{MAX_CPU:g}" step="0.1"> '
        '<label for="governance-memory">Memory (GB)</label> '
        f'<input id="governance-memory" name="memory_gb" type="number" min="0.5" max="{MAX_MEMORY_GB:g}" '
        'step="0.5"> <label for="governance-gpu">GPUs</label> '
        f'<input id="governance-gpu" name="gpu" type="number" min="0" max="{MAX_GPU}" step="1">'
        "</fieldset></div>"
    )
    return "".join(parts)


def make_options_form(
    base_url: str | None = None, token: str | None = None, timeout: float = 5.0
) -> Callable[[Any], Awaitable[str]]:
    """An async `c.Spawner.options_form` callable; config from the arguments or the environment."""
    client = GovernanceClient(*resolve_config(base_url, token), timeout=timeout)

    async def governance_options_form(spawner: Any) -> str:
        try:
            options = await client.launch_options(spawner.user.name)
        except GovernanceUnavailable as exc:
            spawner.log.error(
                "governance launch options for %s failed: %s", spawner.user.name, exc.log_detail
            )
            raise hub_error(str(exc), reason="governance_unavailable", status_code=503) from None
        return render_options_form(options)

    return governance_options_form


async def options_form(spawner: Any) -> str:
    """`c.Spawner.options_form = options_form`, configured from GOVERNANCE_URL / GOVERNANCE_HUB_TOKEN."""
    return await make_options_form()(spawner)


def resolve_config(base_url: str | None, token: str | None) -> tuple[str, str]:
    url = (base_url or os.environ.get("GOVERNANCE_URL", "")).strip()
    secret = (token or os.environ.get("GOVERNANCE_HUB_TOKEN", "")).strip()
    missing = [
        name for name, value in (("GOVERNANCE_URL", url), ("GOVERNANCE_HUB_TOKEN", secret)) if not value
    ]
    if missing:
        raise RuntimeError(f"governance hub hooks need {' and '.join(missing)} (argument or environment)")
    if not url.startswith(("http://", "https://")):
        raise RuntimeError("GOVERNANCE_URL must start with http:// or https://")
    return url, secret
