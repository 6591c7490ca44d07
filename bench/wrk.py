"""Drive a server with wrk (C, from Debian's `wrk` package), so the load generator is not the bottleneck."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Result

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _lua(requests: list[tuple[str, str, Any]], headers: dict[str, str]) -> str:
    lines = ["local reqs = {"]
    for method, path, body in requests:
        payload = json.dumps(body) if body is not None else ""
        lines.append(f"  {{{json.dumps(method)}, {json.dumps(path)}, {json.dumps(payload)}}},")
    lines.append("}")
    for name, value in {**headers, "Content-Type": "application/json"}.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    lines.append(
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  local r = reqs[(i % #reqs) + 1]\n"
        "  local body = nil\n"
        "  if r[3] ~= '' then body = r[3] end\n"
        "  return wrk.format(r[1], r[2], nil, body)\n"
        "end\n"
    )
    return "\n".join(lines)


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    name: str,
    base_url: str,
    requests: list[tuple[str, str, Any]],
    headers: dict[str, str] | None = None,
    *,
    connections: int = 50,
    seconds: int = 15,
    threads: int = 2,
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_lua(requests, headers or {}))
        done = subprocess.run(
            ["wrk", "--latency", "-t", str(min(threads, connections)), "-c", str(connections),
             "-d", f"{seconds}s", "-s", str(script), base_url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    out = done.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    duration = re.search(r"requests in ([\d.]+)(ms|s|m)", out)
    seconds_taken = float(duration.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[duration.group(2)]  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    # anchored: the thread-stats table also has cells ending in '%'
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    result = Result(name, total, errors, seconds_taken, [])
    result.fixed = (p50, p99)
    return result
