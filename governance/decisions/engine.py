"""The Five Safes launch-decision engine: Cedar policies evaluated in-process with cedarpy.

Request layout (one action per safe; the requests of each safe in one ``is_authorized_batch`` call):

==================  =====================  ===================================================
action              resource               notes
==================  =====================  ===================================================
launch:people       Project (or Unknown)   principal is the User, or ``Unknown::"user"``
launch:projects     Project (or Unknown)
launch:data         Dataset (or Unknown)   one request per requested dataset; none requested =
                                           the data safe holds
launch:settings     Profile (or Unknown)
==================  =====================  ===================================================

What all safes share (now, MFA, requested resources, client address, membership, the project and the
profile) lives on one ``Launch`` entity that policies name as ``Launch::"launch"``, so Cedar reads it once
per launch rather than once per request. Unknown things, and projects the user has no membership record
for, arrive as ``Unknown`` entities or absent attributes.

Cedar evaluates every policy of a set on every request, so each safe gets its own ``PolicySet`` (every
permit plus that safe's forbids) and the entities are parsed once per launch into an ``Entities`` handle
that the per-safe batches share. The answers are the same as against one combined set: loading refuses a
forbid that is not scoped to its safe's action, so no other safe's forbid could ever apply. The project,
profile and dataset entities are parsed from their JSON text at most once while the engine remembers that
text (``SHARED_ENTITIES_CACHE_SIZE`` texts); only the user and the launch are parsed for every launch.

Policies are validated against the schema when loaded. Evaluation does not re-validate each request
against the schema unless ``strict=True`` (it costs about half the evaluation time); the request builder
is tested in strict mode, and anything malformed fails closed either way (an error denies).

A safe holds only when every one of its requests is an ``Allow`` without evaluation errors; a ``Deny``
lists the ``@reason`` of every forbid that applied, and ``NoDecision`` or any evaluation error denies with
``ERROR_REASON`` (Cedar skips a forbid whose evaluation fails, so an allow with errors is not trusted).
A ``@reason`` may contain ``{placeholders}`` filled from the situation; ``KNOWN_PLACEHOLDERS`` lists them
and an unknown one is refused at load time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cedarpy

from governance.decisions.situation import (
    ACTIONS,
    SAFES,
    UNKNOWN_TEXT,
    AccreditationFact,
    AgreementFact,
    AuthContext,
    CedarBatch,
    DatasetFact,
    GrantFact,
    LaunchSituation,
    MembershipFact,
    ProfileFact,
    ProjectFact,
    RequestedResources,
    UserFact,
    cedar_batch,
    dataset_facts,
    project_is_visible,
    situation_facts,
)

KNOWN_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "user", "user_status", "accreditation_kind", "accreditation_awarded_on", "accreditation_expires_on",
        "agreement_version", "agreement_signed_on", "agreement_expires_on", "mfa_tier",
        "project", "project_status", "project_tier", "project_starts_on", "project_ends_on",
        "membership_status", "membership_expires_on", "membership_removed_on",
        "dataset", "dataset_status", "dataset_tier", "grant_expires_on", "grant_revoked_on",
        "profile", "profile_max_tier", "profile_cpu", "profile_memory_gb", "profile_gpu",
        "client_ip", "requested_cpu", "requested_memory_gb", "requested_gpu",
    }
)  # fmt: skip
ERROR_REASON = (
    "the {safe} policy could not be evaluated ({detail}) — access is denied until an administrator fixes it"
)
SHARED_ENTITIES_CACHE_SIZE = 1024  # parsed project/profile/dataset entity sets kept per engine
DEFAULT_DENY_REASON = "no policy permits this ({safe}); access is denied by default"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FAILED_POLICY = re.compile(r"policy `([^`]+)`")
_PARSER_POLICY = re.compile(r"for policy `policy\d+`,\s*")
_ENTITY_DUMP = re.compile(r"failed to parse entities from:\n.*\]: ", re.DOTALL)


class PolicyLoadError(Exception):
    """A policy directory that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    id: str
    effect: str  # "permit" | "forbid"
    safe: str | None
    reason: str | None
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class SafeVerdict:
    allowed: bool
    reasons: list[str]
    policies: list[str] = field(default_factory=list)  # @id of every forbid that applied

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": list(self.reasons), "policies": list(self.policies)}


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    safes: dict[str, SafeVerdict]  # keys exactly SAFES
    policy_version: str = ""
    errors: list[str] = field(default_factory=list)  # raw evaluation errors, for logs and the audit record

    @property
    def reasons(self) -> list[str]:
        return [reason for safe in SAFES for reason in self.safes[safe].reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "safes": {safe: self.safes[safe].to_dict() for safe in SAFES},
            "policy_version": self.policy_version,
            "errors": list(self.errors),
        }


# --------------------------------------------------------------------------- loading


def _read_policy_files(directory: Path) -> tuple[Path, list[Path]]:
    if not directory.is_dir():
        raise PolicyLoadError(f"{directory}: not a directory of policies")
    schemas = sorted(directory.glob("*.cedarschema"))
    policies = sorted(directory.glob("*.cedar"))
    if len(schemas) != 1:
        found = ", ".join(p.name for p in schemas) or "none"
        raise PolicyLoadError(f"{directory}: expected exactly one .cedarschema file, found {found}")
    if not policies:
        raise PolicyLoadError(f"{directory}: no .cedar policy files")
    return schemas[0], policies


def directory_version(directory: Path) -> str:
    """sha256 over the schema and policy files (name and text), in file-name order."""
    schema, policies = _read_policy_files(Path(directory))
    return _version({p.name: p.read_text(encoding="utf-8") for p in [schema, *policies]})


def _version(texts: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return digest.hexdigest()


def policy_start_lines(text: str) -> list[int]:
    """1-based line where each policy in ``text`` starts (Cedar has only ``//`` comments)."""
    starts: list[int] = []
    line, in_string, in_comment, escaped, in_policy = 1, False, False, False, False
    for char in text:
        if char == "\n":
            line += 1
            in_comment = False
            continue
        if in_comment:
            continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == "/" and not in_string:
            # a lone "/" is not valid Cedar outside strings, so treat any "/" as a comment start
            in_comment = True
            continue
        if char.isspace():
            continue
        if not in_policy:
            starts.append(line)
            in_policy = True
        if char == '"':
            in_string = True
        elif char == ";":
            in_policy = False
    return starts


def _locate_by_prefix(text: str, parse: Callable[[str], object], message: str, first: int = 1) -> int | None:
    """The first line at which parsing a growing prefix fails with the same message as the whole text."""
    if "end of input" in message:
        return None
    lines = text.split("\n")
    for count in range(1, len(lines) + 1):
        try:
            parse("\n".join(lines[:count]))
        except ValueError as exc:
            if str(exc) == message:
                return first + count - 1
    return None


def _policy_parse_error(name: str, text: str, message: str) -> PolicyLoadError:
    starts = policy_start_lines(text)
    lines = text.split("\n")
    line = starts[-1] if starts else 1
    for index, start in enumerate(starts):
        end = starts[index + 1] - 1 if index + 1 < len(starts) else len(lines)
        chunk = "\n".join(lines[start - 1 : end])
        try:
            cedarpy.policies_to_json_str(chunk)
        except ValueError as exc:
            chunk_message = str(exc)
            line = _locate_by_prefix(chunk, cedarpy.policies_to_json_str, chunk_message, start) or start
            message = chunk_message
            break
    return PolicyLoadError(f"{name}:{line}: syntax error: {message}")


def _load_schema(path: Path, text: str) -> Any:
    try:
        return cedarpy.Schema.from_str(text)
    except ValueError as exc:
        message = str(exc)
        line = _locate_by_prefix(text, cedarpy.Schema.from_str, message) or len(text.rstrip().split("\n"))
        raise PolicyLoadError(f"{path.name}:{line}: invalid schema: {message}") from None


def _policy_info(name: str, line: int, number: int, policy: dict[str, Any]) -> PolicyInfo:
    annotations: dict[str, str] = policy.get("annotations") or {}
    effect = str(policy["effect"])
    policy_id = annotations.get("id") or f"{name}#{number}"
    where = f"{name}:{line}: policy `{policy_id}`"
    safe = annotations.get("safe")
    reason = annotations.get("reason")
    if effect == "forbid":
        if "id" not in annotations:
            raise PolicyLoadError(f'{name}:{line}: forbid policy needs an @id("...") annotation')
        if safe not in SAFES:
            raise PolicyLoadError(f"{where}: @safe must be one of {', '.join(SAFES)} (got {safe!r})")
        if not reason:
            raise PolicyLoadError(f'{where}: forbid policy needs a non-empty @reason("...")')
        unknown = sorted(set(_PLACEHOLDER.findall(reason)) - KNOWN_PLACEHOLDERS)
        if unknown:
            raise PolicyLoadError(f"{where}: unknown placeholder(s) in @reason: {', '.join(unknown)}")
        action = policy.get("action", {})
        expected = {"type": "Action", "id": ACTIONS[safe]}
        scoped = (action.get("op") == "==" and action.get("entity") == expected) or (
            action.get("op") == "in" and action.get("entities") == [expected]
        )
        if not scoped:
            raise PolicyLoadError(
                f'{where}: a forbid with @safe("{safe}") must apply to action == Action::"{ACTIONS[safe]}"'
            )
    return PolicyInfo(policy_id, effect, safe, reason, name, line)


def _load_policy_file(path: Path, text: str, schema: Any) -> list[tuple[PolicyInfo, dict[str, Any]]]:
    try:
        document = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise _policy_parse_error(path.name, text, str(exc)) from None
    starts = policy_start_lines(text)
    static: dict[str, dict[str, Any]] = document.get("staticPolicies") or {}
    ordered = sorted(static.items(), key=lambda item: int(item[0].removeprefix("policy")))

    def line_of(parser_id: str) -> int:
        number = int(parser_id.removeprefix("policy")) if parser_id.startswith("policy") else -1
        return starts[number] if 0 <= number < len(starts) and len(starts) == len(ordered) else 1

    if document.get("templates"):
        first = sorted(document["templates"])[0]
        raise PolicyLoadError(
            f"{path.name}:{line_of(first)}: templates (?principal/?resource) are not supported"
        )
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        problems = []
        for error in result.errors:
            annotated = result.id_annotations_by_policy_id.get(error.policy_id)
            label = f" policy `{annotated}`" if annotated else ""
            detail = _PARSER_POLICY.sub("", error.error)
            problems.append(f"{path.name}:{line_of(error.policy_id)}:{label} {detail}")
        raise PolicyLoadError("policy validation failed:\n" + "\n".join(problems))
    return [
        (_policy_info(path.name, line_of(pid), number, policy), policy)
        for number, (pid, policy) in enumerate(ordered)
    ]


# --------------------------------------------------------------------------- reasons


def render_reason(template: str, facts: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: facts.get(match.group(1), UNKNOWN_TEXT), template)


def _short_error(message: str) -> str:
    """Cedar repeats the whole entity document in some errors; keep only what went wrong."""
    return _ENTITY_DUMP.sub("failed to parse entities: ", message)


def _canary_situations() -> list[LaunchSituation]:
    """Situations that use every attribute the request builder can produce (and every kind of unknown)."""
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    user = UserFact(
        "u", "canary", "active",
        (AccreditationFact("safe-researcher", now, now, verified=True),),
        (AgreementFact("1", now, now),),
    )  # fmt: skip
    project = ProjectFact("p", "canary", "active", 1, now.date(), now.date())
    dataset = DatasetFact("d", "canary", 1, "active", "file:///canary", "canary")
    profile = ProfileFact("f", "canary", "image", 1.0, 1.0, 0, 1, "none", ("10.0.0.0/8",), True, 1.0, True)
    known = LaunchSituation(
        now, user, project, MembershipFact("lead", "approved", now, now), ("d", "x"), {"d": dataset},
        {"d": GrantFact("d", now, now, "")}, profile, "10.1.2.3", AuthContext(True, "gold", ("otp",)),
        RequestedResources(1.0, 1.0, 0),
    )  # fmt: skip
    unknown = LaunchSituation(
        now, None, None, None, ("x",), {}, {}, None, None, AuthContext(), RequestedResources()
    )  # fmt: skip
    return [known, unknown]


def _policy_sets_by_safe(infos: Mapping[str, PolicyInfo], static: Mapping[str, Any]) -> dict[str, Any]:
    """Every permit plus the safe's own forbids, as one ``PolicySet`` per safe (see the module docstring)."""
    sets: dict[str, Any] = {}
    for safe in SAFES:
        chosen = {pid: static[pid] for pid, i in infos.items() if i.effect == "permit" or i.safe == safe}
        document = {"staticPolicies": chosen, "templates": {}, "templateLinks": []}
        sets[safe] = cedarpy.PolicySet.from_json_str(json.dumps(document))
    return sets


def _authorize(
    prepared: CedarBatch, policy_sets: Mapping[str, Any], schema: Any, parse_shared: Callable[[str], Any]
) -> list[Any]:
    """Cedar's answer to each request of ``prepared``, in order; raises when Cedar cannot run at all.

    ``parse_shared`` turns ``prepared.shared_entities`` into an ``Entities`` handle (the engine remembers
    recent ones). With a ``schema``, the entities and every request are validated against it.
    """
    entities: Any
    try:
        shared = parse_shared(prepared.shared_entities)
        entities = shared.with_added_json_str(prepared.launch_entities, schema)
    except ValueError:  # the handle's error is terse; given the text, Cedar says per request what is wrong
        entities = prepared.entities
    by_safe: dict[str, list[int]] = {}
    for index, safe in enumerate(prepared.safes):
        by_safe.setdefault(safe, []).append(index)
    results: list[Any] = [None] * len(prepared.requests)
    for safe, indices in by_safe.items():
        requests = [prepared.requests[i] for i in indices]
        answers = cedarpy.is_authorized_batch(requests, policy_sets[safe], entities, schema)
        for index, answer in zip(indices, answers, strict=True):
            results[index] = answer
    return results


def _check_requests_fit_schema(policy_sets: Mapping[str, Any], schema: Any, directory: Path) -> None:
    def parse(text: str) -> Any:
        return cedarpy.Entities.from_json_str(text, schema)

    for situation in _canary_situations():
        try:
            results = _authorize(cedar_batch(situation), policy_sets, schema, parse)
        except Exception as exc:
            raise PolicyLoadError(
                f"{directory}: the schema does not fit the launch requests: {_short_error(str(exc))}"
            ) from None
        for result in results:
            for error in result.diagnostics.errors:
                if "while evaluating policy" not in error:
                    detail = _short_error(error)
                    raise PolicyLoadError(
                        f"{directory}: the schema does not fit the launch requests: {detail}"
                    )


# --------------------------------------------------------------------------- engine


class PolicyEngine:
    """Parsed, validated policies; ``evaluate`` is pure and thread-safe."""

    def __init__(self, directory: Path, policy_sets: dict[str, Any], schema: Any,
                 policies: dict[str, PolicyInfo], version: str, warnings: list[str],
                 strict: bool = False) -> None:  # fmt: skip
        self.directory = directory
        self.policies = policies
        self.version = version
        self.warnings = warnings
        self._policy_sets = policy_sets  # one PolicySet per safe
        self._schema = schema
        self.strict = strict
        # Parsed shared entities by their JSON text: launches of the same project with the same profile
        # and datasets skip parsing them (a different text is simply another entry).
        parse = functools.partial(cedarpy.Entities.from_json_str, schema=schema if strict else None)
        self._shared_entities = functools.lru_cache(maxsize=SHARED_ENTITIES_CACHE_SIZE)(parse)

    @classmethod
    def from_directory(cls, path: Path | str, *, strict: bool = False) -> PolicyEngine:
        """Parse and validate a policy directory once; raises PolicyLoadError naming file and line."""
        directory = Path(path)
        schema_path, policy_paths = _read_policy_files(directory)
        try:
            texts = {p.name: p.read_text(encoding="utf-8") for p in [schema_path, *policy_paths]}
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyLoadError(f"{directory}: cannot read the policy files: {exc}") from None
        schema = _load_schema(schema_path, texts[schema_path.name])
        infos: dict[str, PolicyInfo] = {}
        static: dict[str, dict[str, Any]] = {}
        for policy_path in policy_paths:
            for info, policy in _load_policy_file(policy_path, texts[policy_path.name], schema):
                if info.id in infos:
                    other = infos[info.id]
                    where = f"{info.file}:{info.line}"
                    raise PolicyLoadError(
                        f"{where}: policy id `{info.id}` is already used at {other.file}:{other.line}"
                    )
                infos[info.id] = info
                static[info.id] = policy
        policy_sets = _policy_sets_by_safe(infos, static)
        _check_requests_fit_schema(policy_sets, schema, directory)
        warnings = [
            f'no permit policy applies to action "{action}": every {safe} check will be denied'
            for safe, action in ACTIONS.items()
            if not any(_permits(static[i], action) for i, info in infos.items() if info.effect == "permit")
        ]
        return cls(directory, policy_sets, schema, infos, _version(texts), warnings, strict)

    def reload(self, path: Path | str | None = None) -> PolicyEngine:
        """A freshly loaded engine (this one is left untouched); raises PolicyLoadError."""
        return PolicyEngine.from_directory(self.directory if path is None else path, strict=self.strict)

    def authorize(self, prepared: CedarBatch) -> list[Any]:
        """Cedar's raw answers for a prepared launch, in request order (the engine's Cedar-only part)."""
        schema = self._schema if self.strict else None
        return _authorize(prepared, self._policy_sets, schema, self._shared_entities)

    def evaluate(self, situation: LaunchSituation) -> Verdict:
        prepared = cedar_batch(situation)
        try:
            results = self.authorize(prepared)
        except Exception as exc:  # any failure of the evaluator itself denies everything
            detail = f"{type(exc).__name__}: {exc}"
            safes = {
                s: SafeVerdict(False, [ERROR_REASON.format(safe=s, detail="evaluator failure")])
                for s in SAFES
            }
            return Verdict(False, safes, self.version, [detail])
        allowed = dict.fromkeys(SAFES, True)
        reasons: dict[str, list[str]] = {safe: [] for safe in SAFES}
        fired: dict[str, list[str]] = {safe: [] for safe in SAFES}
        errors: list[str] = []
        facts: dict[str, str] | None = None
        for safe, key, result in zip(prepared.safes, prepared.dataset_keys, results, strict=True):
            diagnostics = result.diagnostics
            request_errors: list[str] = list(diagnostics.errors)
            decision = result.decision
            if decision == cedarpy.Decision.Allow and not request_errors:
                continue
            allowed[safe] = False
            before = len(reasons[safe])
            if decision == cedarpy.Decision.Deny:
                for policy_id in sorted(diagnostics.reasons, key=self._policy_order):
                    info = self.policies.get(policy_id)
                    if info is None or info.effect != "forbid" or info.reason is None:
                        continue
                    if facts is None:
                        facts = situation_facts(situation)
                    values = facts if key is None else {**facts, **self._dataset_facts(situation, key)}
                    reasons[safe].append(render_reason(info.reason, values))
                    fired[safe].append(policy_id)
            if request_errors:
                errors.extend(_short_error(e) for e in request_errors)
                failed = sorted({m for e in request_errors for m in _FAILED_POLICY.findall(e)})
                detail = f"error in policy {', '.join(failed)}" if failed else "evaluation error"
                reasons[safe].append(ERROR_REASON.format(safe=safe, detail=detail))
            elif len(reasons[safe]) == before:
                reasons[safe].append(DEFAULT_DENY_REASON.format(safe=safe))
        safes = {
            safe: SafeVerdict(
                allowed[safe], list(dict.fromkeys(reasons[safe])), list(dict.fromkeys(fired[safe]))
            )
            for safe in SAFES
        }
        return Verdict(all(allowed.values()), safes, self.version, errors)

    def _policy_order(self, policy_id: str) -> tuple[str, int]:
        info = self.policies.get(policy_id)
        return ("", 0) if info is None else (info.file, info.line)

    @staticmethod
    def _dataset_facts(situation: LaunchSituation, key: str) -> dict[str, str]:
        dataset = situation.datasets.get(key)
        visible = project_is_visible(situation)
        grant = situation.grants.get(dataset.id) if dataset is not None and visible else None
        return dataset_facts(key, dataset, grant)


def _permits(policy: dict[str, Any], action: str) -> bool:
    constraint = policy.get("action", {})
    target = {"type": "Action", "id": action}
    op = constraint.get("op")
    if op == "All":
        return True
    if op == "==":
        return bool(constraint.get("entity") == target)
    if op == "in":
        return target in constraint.get("entities", [constraint.get("entity")])
    return False


class PolicyStore:
    """Holds the last good engine of a directory; ``reload`` never replaces it with a broken set."""

    def __init__(self, path: Path | str, *, strict: bool = False) -> None:
        self.path = Path(path)
        self.strict = strict
        self._lock = threading.Lock()
        self._current = PolicyEngine.from_directory(self.path, strict=strict)
        self.last_error: PolicyLoadError | None = None

    @property
    def current(self) -> PolicyEngine:
        return self._current

    def reload(self) -> PolicyEngine:
        """Load the directory again; on PolicyLoadError keep the current engine and re-raise."""
        with self._lock:
            try:
                engine = PolicyEngine.from_directory(self.path, strict=self.strict)
            except PolicyLoadError as exc:
                self.last_error = exc
                raise
            self._current = engine
            self.last_error = None
            return engine

    def reload_if_changed(self) -> bool:
        """Reload only when the files' version differs from the current one; True when it swapped."""
        try:
            version = directory_version(self.path)
        except (PolicyLoadError, OSError) as exc:
            self.last_error = exc if isinstance(exc, PolicyLoadError) else PolicyLoadError(str(exc))
            raise self.last_error from None
        if version == self._current.version:
            return False
        self.reload()
        return True


def check_policies(path: Path | str) -> str:
    """Load and validate a policy directory; a one-paragraph summary, or PolicyLoadError."""
    engine = PolicyEngine.from_directory(path)
    forbids = [p for p in engine.policies.values() if p.effect == "forbid"]
    per_safe = ", ".join(f"{safe} {sum(1 for p in forbids if p.safe == safe)}" for safe in SAFES)
    files = sorted({p.file for p in engine.policies.values()})
    lines = [
        f"policies OK: {len(engine.policies)} policies in {len(files)} file(s) ({', '.join(files)})",
        f"forbid policies per safe: {per_safe}; permit policies: {len(engine.policies) - len(forbids)}",
        f"version {engine.version}",
    ]
    lines.extend(f"warning: {w}" for w in engine.warnings)
    return "\n".join(lines)
