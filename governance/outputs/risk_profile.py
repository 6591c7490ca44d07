"""Versioned output-checking risk profiles, loaded from `policies/output_checks.toml`.

`defaults` holds every setting; `[tiers.N]` tables override some of them for tier N and every higher
tier (cascading upwards in ascending tier order, nested tables merged key by key).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FileType = Literal[
    "csv",
    "tsv",
    "xlsx",
    "parquet",
    "json",
    "txt",
    "markdown",
    "png",
    "jpeg",
    "pdf",
    "svg",
    "html",
    "xml",
    "zip",
    "gzip",
    "tar",
    "7z",
    "rar",
    "binary",
]
KNOWN_FILE_TYPES: frozenset[str] = frozenset(get_args(FileType))

MAX_TIER = 9


class RiskProfileError(ValueError):
    """The risk-profile file is missing, unreadable or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class RoundingRule(_Strict):
    base: int = Field(ge=1)
    require_rounding: bool


class ArchiveLimits(_Strict):
    max_members: int = Field(ge=1)
    max_total_uncompressed_bytes: int = Field(ge=1)
    max_ratio: float = Field(gt=1)
    max_depth: int = Field(ge=0)


class TableLimits(_Strict):
    """What a table may cost once decoded: checked against the file's own declarations (Parquet footer,
    workbook ZIP directory) before anything is decoded, and again while it is read."""

    max_decoded_bytes: int = Field(default=268_435_456, ge=1)  # the table in memory, all columns
    max_cells: int = Field(default=5_000_000, ge=1)  # rows x columns
    max_shared_strings: int = Field(default=1_000_000, ge=1)  # entries of a workbook's string table
    max_shared_strings_bytes: int = Field(default=67_108_864, ge=1)  # its XML, uncompressed
    max_xml_ratio: float = Field(default=500.0, gt=1)  # a workbook member's uncompressed / compressed


class RiskProfile(_Strict):
    """The disclosure-control criteria applied to one data tier (immutable)."""

    version: str
    tier: int = Field(ge=0, le=MAX_TIER)
    safe_threshold: int = Field(ge=1)
    safe_dof_threshold: int = Field(ge=0)
    safe_nk_n: int = Field(ge=1)
    safe_nk_k: float = Field(gt=0, le=1)
    safe_pratio_p: float = Field(gt=0, lt=1)
    zeros_are_disclosive: bool
    allowed_file_types: frozenset[FileType]
    archives_allowed: bool
    max_file_bytes: int = Field(ge=1)
    max_request_bytes: int = Field(ge=1)
    max_rows: int = Field(ge=1)
    max_columns: int = Field(ge=1)
    max_line_bytes: int = Field(ge=16)
    max_findings: int = Field(ge=1)
    malware_scanner_required: bool
    reviewers_required: int = Field(ge=1, le=10)
    rounding: RoundingRule
    archive: ArchiveLimits
    tables: TableLimits = Field(default_factory=TableLimits)

    # TOML gives lists and ints where the model wants frozensets and floats; allow exactly those.
    @model_validator(mode="before")
    @classmethod
    def _coerce_toml_types(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        types = data.get("allowed_file_types")
        if isinstance(types, list):
            data["allowed_file_types"] = frozenset(types)
        for key in ("safe_nk_k", "safe_pratio_p"):
            if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
                data[key] = float(data[key])
        archive = data.get("archive")
        if isinstance(archive, dict) and isinstance(archive.get("max_ratio"), int):
            data["archive"] = {**archive, "max_ratio": float(archive["max_ratio"])}
        tables = data.get("tables")
        if isinstance(tables, dict) and isinstance(tables.get("max_xml_ratio"), int):
            data["tables"] = {**tables, "max_xml_ratio": float(tables["max_xml_ratio"])}
        return data

    def thresholds(self) -> dict[str, Any]:
        """The disclosure thresholds as plain data, for check results and release records."""
        return {
            "profile_version": self.version,
            "tier": self.tier,
            "safe_threshold": self.safe_threshold,
            "safe_dof_threshold": self.safe_dof_threshold,
            "safe_nk_n": self.safe_nk_n,
            "safe_nk_k": self.safe_nk_k,
            "safe_pratio_p": self.safe_pratio_p,
            "zeros_are_disclosive": self.zeros_are_disclosive,
            "round_base": self.rounding.base,
            "require_rounding": self.rounding.require_rounding,
        }


class RiskProfiles:
    """All tiers of one versioned risk-profile file."""

    def __init__(self, version: str, defaults: Mapping[str, Any], overrides: Mapping[int, Mapping[str, Any]]):
        self.version = version
        self._defaults = dict(defaults)
        self._overrides = {tier: dict(values) for tier, values in sorted(overrides.items())}
        self._cache: dict[int, RiskProfile] = {}
        for tier in range(MAX_TIER + 1):  # validate every tier now, so a bad file fails at load time
            self.for_tier(tier)

    @property
    def override_tiers(self) -> list[int]:
        return list(self._overrides)

    def for_tier(self, tier: int) -> RiskProfile:
        if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier <= MAX_TIER:
            raise ValueError(f"tier must be an integer from 0 to {MAX_TIER}, got {tier!r}")
        cached = self._cache.get(tier)
        if cached is not None:
            return cached
        merged: dict[str, Any] = dict(self._defaults)
        source = "defaults"
        for override_tier, values in self._overrides.items():
            if override_tier <= tier:
                merged = _deep_merge(merged, values)
                source = f"tiers.{override_tier}"
        try:
            profile = RiskProfile.model_validate({**merged, "version": self.version, "tier": tier})
        except ValidationError as exc:
            raise RiskProfileError(_describe(exc, source)) from None
        self._cache[tier] = profile
        return profile


def load_risk_profiles(path: Path) -> RiskProfiles:
    """Read and validate a risk-profile TOML file; raise RiskProfileError naming the offending key."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RiskProfileError(f"{path}: risk-profile file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RiskProfileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return _from_mapping(raw)
    except RiskProfileError as exc:
        raise RiskProfileError(f"{path}: {exc}") from None


def risk_profiles_from_mapping(raw: Mapping[str, Any]) -> RiskProfiles:
    """Build profiles from already-parsed data (same rules as the TOML file)."""
    return _from_mapping(raw)


def _from_mapping(raw: Mapping[str, Any]) -> RiskProfiles:
    unknown = set(raw) - {"version", "defaults", "tiers"}
    if unknown:
        raise RiskProfileError(f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip():
        raise RiskProfileError("key 'version' is required and must be a non-empty string, e.g. \"2026.1\"")
    defaults = raw.get("defaults")
    if not isinstance(defaults, dict):
        raise RiskProfileError("table [defaults] is required")
    tiers_raw = raw.get("tiers", {})
    if not isinstance(tiers_raw, dict):
        raise RiskProfileError("key 'tiers' must be a table of [tiers.N] tables")
    overrides: dict[int, dict[str, Any]] = {}
    for key, values in tiers_raw.items():
        if not str(key).isdigit() or not 0 <= int(key) <= MAX_TIER:
            raise RiskProfileError(f"key 'tiers.{key}': tier must be an integer from 0 to {MAX_TIER}")
        if not isinstance(values, dict):
            raise RiskProfileError(f"key 'tiers.{key}' must be a table")
        overrides[int(key)] = values
    return RiskProfiles(version, defaults, overrides)


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, source: str) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(profile)"
        kind = error["type"]
        if kind == "missing":
            problems.append(f"key '{key}' is required (missing from {source} and everything it inherits)")
        elif kind == "extra_forbidden":
            problems.append(f"key '{key}' in {source} is not a known setting")
        else:
            problems.append(f"key '{key}' in {source}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(problems)
