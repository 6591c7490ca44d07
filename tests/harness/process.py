"""Start, wait for and stop the external processes the test-suite needs.

Every process runs in its own session with its output in a log file. Stopping signals the whole
process tree (the session's group plus every descendant found in /proc, since some children start
their own sessions), waits, then kills what is left. Anything still running when the interpreter
exits is stopped by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
LOG_TAIL_LINES = 50


class ServiceStartError(RuntimeError):
    """A service did not start or did not become ready in time; the message carries its log tail."""


_cleanups: dict[int, Callable[[], None]] = {}
_cleanup_ids = itertools.count()
_cleanup_lock = threading.Lock()


def track(stop: Callable[[], None]) -> int:
    """Remember a stop function to call at interpreter exit; returns a token for `untrack`."""
    with _cleanup_lock:
        token = next(_cleanup_ids)
        _cleanups[token] = stop
        return token


def untrack(token: int | None) -> None:
    if token is None:
        return
    with _cleanup_lock:
        _cleanups.pop(token, None)


@atexit.register
def _stop_leftovers() -> None:
    with _cleanup_lock:
        pending = sorted(_cleanups.items(), reverse=True)
        _cleanups.clear()
    for _, stop in pending:
        try:
            stop()
        except Exception:  # noqa: S112 - best effort at exit; one failure must not keep the others running
            continue


def descendants(pid: int) -> set[int]:
    """All live descendants of pid, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces; the parent pid follows it.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def _signal_all(pids: set[int], pgid: int | None, sig: int) -> None:
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ServiceProcess:
    """One long-running child process (and its descendants), logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.user = user
        self._proc: subprocess.Popen[bytes] | None = None
        self._token: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user is not None else None,
            )
        self._token = track(self.stop)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log_path, lines)

    def wait_ready(self, check: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll `check` until it is true; return the seconds waited since this call.

        On timeout or when the process exits first, stop it and raise ServiceStartError with the
        log tail.
        """
        started = time.monotonic()
        deadline = started + timeout
        delay = 0.05
        while True:
            if not self.running():
                code = self._proc.returncode if self._proc is not None else None
                self.stop()
                raise ServiceStartError(
                    f"{self.name} exited with code {code} before it was ready ({what}).\n"
                    f"Log {self.log_path}, last {LOG_TAIL_LINES} lines:\n{self.log_tail()}"
                )
            try:
                if check():
                    return time.monotonic() - started
            except Exception:  # noqa: S110 - not ready yet; any error means "try again"
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise ServiceStartError(
                    f"{self.name} was not ready after {timeout:.0f} s ({what}).\n"
                    f"Log {self.log_path}, last {LOG_TAIL_LINES} lines:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, *, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        """Signal the process tree, wait up to `grace` seconds, then SIGKILL what is left.

        Idempotent: stopping a stopped (or never started) process does nothing.
        """
        proc = self._proc
        untrack(self._token)
        self._token = None
        if proc is None:
            return
        pids = descendants(proc.pid)
        if proc.poll() is None:
            pids.add(proc.pid)
        if not pids:
            return
        _signal_all(pids, proc.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            if not any(_alive(pid) for pid in pids):
                break
            time.sleep(0.05)
        else:
            _signal_all(pids | descendants(proc.pid), proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> Completed:
    """Run a short-lived command in its own session; on timeout kill its whole tree and raise.

    Output goes to temp files rather than pipes, so a helper that outlives the command and keeps
    its stdout open (Chromium's crash handler, for example) cannot make us wait; such helpers are
    killed with the process group when the command returns.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        _signal_all(descendants(proc.pid) | ({proc.pid} if timed_out else set()), proc.pid, signal.SIGKILL)
        proc.wait()
        out.seek(0)
        err.seek(0)
        done = Completed(
            proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )
    if timed_out:
        raise TimeoutError(f"{argv[0]} did not finish within {timeout:.0f} s; output:\n{done.output[-4000:]}")
    return done
