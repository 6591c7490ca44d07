"""Fixtures for the output-checking tests: risk profiles, a real clamd, real ACRO sessions."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from governance.outputs.checks import CheckContext, ClamdClient
from governance.outputs.risk_profile import RiskProfile, RiskProfiles, load_risk_profiles

REPO = Path(__file__).resolve().parents[2]
PROFILES_FILE = REPO / "policies" / "output_checks.toml"

# The EICAR anti-virus test string, assembled at run time so this source file is not itself "infected".
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD_STREAM_MAX_BYTES = 1024 * 1024


@pytest.fixture(scope="session")
def profiles() -> RiskProfiles:
    return load_risk_profiles(PROFILES_FILE)


@pytest.fixture
def make_ctx(profiles: RiskProfiles) -> Callable[..., CheckContext]:
    def make(
        file_name: str, tier: int = 2, profile: RiskProfile | None = None, **kwargs: Any
    ) -> CheckContext:
        return CheckContext(file_name=file_name, profile=profile or profiles.for_tier(tier), **kwargs)

    return make


def with_changes(profile: RiskProfile, **changes: Any) -> RiskProfile:
    """A copy of a profile with some settings changed (re-validated)."""
    return RiskProfile.model_validate({**profile.model_dump(), **changes})


# ---- clamd --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clamd:
    unix_address: str
    tcp_address: str
    stream_max_bytes: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A real clamd in the foreground, with a one-signature database (EICAR) written here."""
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    assert Path(binary).exists(), "clamd is required: apt-get install -y clamav-daemon"
    home = tmp_path_factory.mktemp("clamd")
    database = home / "db"
    database.mkdir()
    (database / "local.ndb").write_text(f"Governance.Test.EICAR:0:*:{EICAR.hex()}\n")
    socket_path = home / "clamd.sock"
    port = _free_port()
    config = home / "clamd.conf"
    config.write_text(
        textwrap.dedent(f"""\
        Foreground yes
        User root
        LocalSocket {socket_path}
        TCPSocket {port}
        TCPAddr 127.0.0.1
        DatabaseDirectory {database}
        StreamMaxLength {CLAMD_STREAM_MAX_BYTES}
        LogFile {home / "clamd.log"}
        LogVerbose no
        SelfCheck 3600
        """)
    )
    log = (home / "stdout.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    client = ClamdClient(f"unix://{socket_path}", timeout_seconds=2)
    deadline = time.monotonic() + 90
    try:
        while not client.ping():
            if process.poll() is not None:
                raise RuntimeError(f"clamd exited: {(home / 'stdout.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("clamd did not answer PING in time")
            time.sleep(0.2)
        yield Clamd(f"unix://{socket_path}", f"127.0.0.1:{port}", CLAMD_STREAM_MAX_BYTES)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ---- ACRO ---------------------------------------------------------------------------------------------

_ACRO_SCRIPT = """
import sys
import numpy as np
import pandas as pd
from acro import ACRO

folder = sys.argv[1]
rng = np.random.default_rng(7)
n = 300
df = pd.DataFrame({
    "year": rng.choice([2010, 2011, 2012], n),
    "grant_type": rng.choice(list("ABCDE"), n, p=[0.4, 0.3, 0.22, 0.05, 0.03]),
    "survivor": rng.choice(["Dead", "Alive"], n),
    "inc_grants": rng.normal(100.0, 20.0, n),
    "x": rng.normal(size=n),
})
acro = ACRO(suppress=False)
acro.crosstab(df.year, df.grant_type)                     # output_0: small cells -> fail
acro.crosstab(df.year, df.survivor)                       # output_1: large cells -> pass
acro.ols(df["inc_grants"], df[["x"]])                     # output_2: regression
figure = folder + "_figure.png"
with open(figure, "wb") as handle:
    handle.write(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(64))
acro.custom_output(figure, "a figure made elsewhere")     # output_3: custom -> review
acro.add_exception("output_0", "The small cells are structural and published elsewhere.")
acro.finalise(folder, "json")
"""


@pytest.fixture(scope="session")
def acro_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ACRO 1.x session folder, generated once (ACRO is slow to import)."""
    base = tmp_path_factory.mktemp("acro")
    folder = base / "session"
    script = base / "make_session.py"
    script.write_text(_ACRO_SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script), str(folder)], cwd=base, capture_output=True, text=True, timeout=240
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (folder / "results.json").is_file()
    return folder


@pytest.fixture
def acro_copy(acro_session: Path, tmp_path: Path) -> Path:
    """A private copy of the session that a test may damage."""
    target = tmp_path / "session"
    shutil.copytree(acro_session, target)
    return target
