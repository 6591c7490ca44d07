"""The vocabulary shared by every automated output check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from governance.outputs.risk_profile import RiskProfile

Status = Literal["pass", "fail", "review", "error"]

# An "error" means the file could not be judged (e.g. the scanner is down): the request is held, which is
# at least as serious as a failure for the decision "may this leave?".
STATUS_SEVERITY: dict[Status, int] = {"pass": 0, "review": 1, "fail": 2, "error": 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a reviewer should know about.

    `location` points into the file, e.g. {"row": 3, "column": "count"}: `row` is the 0-based index among
    data rows (the header row is not counted); messages show it 1-based as "data row N".
    """

    code: str
    message: str
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    version: str
    status: Status
    findings: list[Finding]
    parameters: dict[str, Any]
    # How many findings of each code there were, including those left out of `findings` by the cap.
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=data["name"],
            version=data["version"],
            status=data["status"],
            findings=[Finding(**finding) for finding in data.get("findings", [])],
            parameters=dict(data.get("parameters", {})),
            counts=dict(data.get("counts", {})),
        )


@dataclass
class CheckContext:
    """What a check knows besides the file itself.

    `file_name` is the name the researcher gave (its extension is compared with the content).
    `contributions_column` names the column holding individual contributions for the dominance rules,
    found in `contributions_path` (a companion long-format file keyed by the table's label columns) or,
    when that is None, in the checked file itself.
    `clamd_address` is "unix:///path/clamd.sock", a socket path, "tcp://host:port" or "host:port";
    None means no scanner is configured. `clamd_max_stream_bytes` must match clamd's StreamMaxLength.
    """

    file_name: str
    profile: RiskProfile
    contributions_column: str | None = None
    previous_release_tables: list[Path] = field(default_factory=list)
    contributions_path: Path | None = None
    clamd_address: str | None = None
    clamd_timeout_seconds: float = 60.0
    clamd_max_stream_bytes: int = 25 * 1024 * 1024
    # Per-file memo shared by checks of one run (type detection, text scan, parsed table).
    cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False, compare=False)


@runtime_checkable
class Check(Protocol):
    name: str
    version: str

    def run(self, path: Path, ctx: CheckContext) -> CheckResult: ...


def describe_bytes(size: int) -> str:
    """1 GiB, 512 MiB, 10 KiB or 123 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def worst_status(statuses: list[Status]) -> Status:
    """The most severe status (pass < review < fail < error); "pass" for no statuses."""
    worst: Status = "pass"
    for status in statuses:
        if STATUS_SEVERITY[status] > STATUS_SEVERITY[worst]:
            worst = status
    return worst


class FindingCollector:
    """Collects findings up to a cap while counting all of them per code."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}
        self.statuses: list[Status] = []

    def add(
        self, code: str, message: str, location: dict[str, Any] | None = None, *, status: Status = "fail"
    ) -> None:
        self.add_counted(code, 1, status=status)
        if len(self.findings) < self.limit:
            self.findings.append(Finding(code, message, location))

    def add_counted(self, code: str, count: int, *, status: Status) -> None:
        """Count `count` findings of `code` (call `add_detail` for the ones worth listing)."""
        if count <= 0:
            return
        self.counts[code] = self.counts.get(code, 0) + count
        self.statuses.append(status)

    def add_detail(self, code: str, message: str, location: dict[str, Any] | None = None) -> bool:
        """List one already-counted finding; False when the cap is reached."""
        if len(self.findings) >= self.limit:
            return False
        self.findings.append(Finding(code, message, location))
        return True

    @property
    def room(self) -> int:
        return max(0, self.limit - len(self.findings))

    def result(self, name: str, version: str, parameters: dict[str, Any]) -> CheckResult:
        return CheckResult(
            name=name,
            version=version,
            status=worst_status(self.statuses),
            findings=list(self.findings),
            parameters=parameters,
            counts=dict(self.counts),
        )
