"""The per-file check suite, run in a child process with memory and time limits.

A hostile file must not be able to take down the process that checks it: with GOVERNANCE_JOBS_INLINE
that process is the API itself, otherwise a Celery worker. So the parent (the check job, see
`tasks.py`) keeps what it always did — decrypting, storing one result per (file, check, check
version), idempotency, moving the request on — and only the running of the check functions moves to a
child, `python -m governance.outputs.check_process`, which

* limits itself before doing anything else: address space (RLIMIT_AS, Settings
  `output_check_memory_bytes`), no core dumps (a core file would hold the plaintext), CPU time
  (RLIMIT_CPU, re-armed per file: a backstop for the parent's clock), and dies with its parent
  (PR_SET_PDEATHSIG);
* reads one JSON line per file on stdin: the path of the decrypted file (a private 0600 file in the
  private work directory; the bytes never travel through argv, the environment or the pipe), the
  risk profile and the checks wanted;
* answers on a descriptor of its own (stray output from libraries goes to stderr) with one JSON line
  when a check starts, one with its result when it ends, and one when the file is done.

One child serves the files of one check run in turn (`CheckProcess`), so Python and Arrow start once
per run rather than once per file; it is replaced whenever it does not survive a file, and after any
file that ran out of memory. The parent gives every check `output_check_timeout_seconds` of wall time.
A child killed at the timeout, crashing (segfault, abort) or dying for any other reason yields an
"error" result for the check it was running, saying why in plain words ("timed out after 120 s");
a fresh child then runs the checks still to do. Running out of memory inside the limit raises
MemoryError in the child, which reports it as an "error" result too ("ran out of memory (limit
2 GiB)"). Either way the parent survives.

The child runs without the GOVERNANCE_* environment (it needs no settings and no keys) and with Arrow
on the system allocator and few threads, so that the address-space limit measures the data, not
allocator reservations (mimalloc alone reserves a gigabyte).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from governance.outputs.checks.base import CheckContext, CheckResult, Finding, describe_bytes

Key = tuple[str, str]
ResultSink = Callable[[CheckResult, int], None]

STARTUP_SECONDS = 60.0  # importing Arrow on a loaded host; not counted against a check's time
MAX_LINE_BYTES = 64 * 1024 * 1024
EXIT_OUT_OF_MEMORY = 86
_THREADS = 2


@dataclass(frozen=True)
class ProcessLimits:
    memory_bytes: int  # the child's address space
    timeout_seconds: float  # wall time per check


def run_in_child(
    path: Path,
    ctx: CheckContext,
    keys: Sequence[Key],
    limits: ProcessLimits,
    on_result: ResultSink,
    *,
    delay_seconds: float = 0.0,
) -> None:
    """Check one file in a child process of its own (see CheckProcess.run)."""
    with CheckProcess(limits) as process:
        process.run(path, ctx, keys, on_result, delay_seconds=delay_seconds)


class _TimedOut(Exception):
    pass


class _Garbled(Exception):
    pass


class _Lines:
    """Newline-terminated messages from the child, each awaited until a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.fd = stream.fileno()
        self.buffer = bytearray()
        self.eof = False
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)

    def next(self, deadline: float) -> bytes | None:
        """The next line; None at end of output; raises _TimedOut or _Garbled."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise _TimedOut
            if not self.selector.select(left):
                continue  # the loop re-checks the deadline
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
                continue
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE_BYTES:
                raise _Garbled

    def close(self) -> None:
        self.selector.close()


class CheckProcess:
    """A child process that checks files one after another, replaced whenever one does not survive.

    Use one per check run (`with CheckProcess(limits) as process: process.run(...)` for each file),
    so that the cost of starting Python and importing Arrow is paid once per run, not per file. The
    limits hold for every file: the address space is the process's own, the time is counted per
    check, and a child that ran out of memory is replaced before the next file.
    """

    def __init__(self, limits: ProcessLimits) -> None:
        self.limits = limits
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: _Lines | None = None
        self._spoke = False  # the current child has answered at least once (it started properly)

    def __enter__(self) -> CheckProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        path: Path,
        ctx: CheckContext,
        keys: Sequence[Key],
        on_result: ResultSink,
        *,
        delay_seconds: float = 0.0,
    ) -> None:
        """Run the checks `keys` (in that order) on `path`; every key gets exactly one call of
        `on_result(result, duration_ms)`, an "error" result when the child did not survive it."""
        remaining = list(keys)
        while remaining:
            remaining = self._run_some(path, ctx, remaining, on_result, delay_seconds)

    def close(self) -> None:
        process, self._process = self._process, None
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()  # end of work: the child exits
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill(process)
        process.stdout.close()

    def _start(self) -> tuple[subprocess.Popen[bytes], _Lines]:
        if self._process is None or self._lines is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_child_env(),
                start_new_session=True,  # its own process group, killed as a whole
                close_fds=True,
            )
            assert self._process.stdout is not None
            self._lines = _Lines(self._process.stdout)
            self._spoke = False
        return self._process, self._lines

    def _bury(self) -> int:
        """Wait for (or kill) the current child; its exit code."""
        process, self._process = self._process, None
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        if process is None:
            return 0
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        code = _wait(process)
        process.stdout.close()
        return code

    def _run_some(
        self,
        path: Path,
        ctx: CheckContext,
        keys: list[Key],
        on_result: ResultSink,
        delay_seconds: float,
    ) -> list[Key]:
        """Run `keys` in the current child; return the keys it did not get to (after a death, minus
        the check it died in)."""
        limits = self.limits
        process, lines = self._start()
        assert process.stdin is not None
        done: set[Key] = set()
        current: Key | None = None
        try:
            try:
                process.stdin.write(
                    json.dumps(_spec(path, ctx, keys, limits, delay_seconds)).encode() + b"\n"
                )
                process.stdin.flush()
            except BrokenPipeError:
                pass  # it has died; reported below
            startup = 0.0 if self._spoke else STARTUP_SECONDS
            deadline = time.monotonic() + startup + limits.timeout_seconds
            while True:
                line = lines.next(deadline)
                if line is None:
                    break
                message = json.loads(line)
                self._spoke = True
                if "start" in message:
                    current = (str(message["start"][0]), str(message["start"][1]))
                elif "result" in message:
                    result = CheckResult.from_dict(message["result"])
                    on_result(result, int(message.get("ms", 0)))
                    done.add((result.name, result.version))
                    current = None
                elif "done" in message:
                    if message.get("exit"):
                        self._bury()  # it ran out of memory: the next file gets a fresh process
                    return [k for k in keys if k not in done]
                deadline = time.monotonic() + limits.timeout_seconds
        except _TimedOut:
            _kill(process)
            self._bury()
            victim = current or _first(keys, done)
            on_result(_timed_out(victim, limits), int(limits.timeout_seconds * 1000))
            return [k for k in keys if k not in done and k != victim]
        except (_Garbled, ValueError, KeyError, TypeError, IndexError):
            _kill(process)
            self._bury()
            victim = current or _first(keys, done)
            on_result(_died(victim, "sent a reply that could not be read", limits), 0)
            return [k for k in keys if k not in done and k != victim]
        spoke = self._spoke
        code = self._bury()
        left = [k for k in keys if k not in done]
        if not left:
            return []
        if not spoke:  # it never got to a check: the same would happen to every one of them
            for key in left:
                on_result(_died(key, _exit_reason(code, limits, starting=True), limits), 0)
            return []
        victim = current or left[0]
        on_result(_died(victim, _exit_reason(code, limits), limits), 0)
        return [k for k in left if k != victim]


def _spec(
    path: Path, ctx: CheckContext, keys: list[Key], limits: ProcessLimits, delay_seconds: float
) -> dict[str, Any]:
    return {
        "path": str(path),
        "file_name": ctx.file_name,
        "profile": ctx.profile.model_dump(mode="json"),
        "contributions_column": ctx.contributions_column,
        "contributions_path": str(ctx.contributions_path) if ctx.contributions_path else None,
        "previous_release_tables": [str(p) for p in ctx.previous_release_tables],
        "clamd_address": ctx.clamd_address,
        "clamd_timeout_seconds": ctx.clamd_timeout_seconds,
        "clamd_max_stream_bytes": ctx.clamd_max_stream_bytes,
        "checks": [list(key) for key in keys],
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": math.ceil(limits.timeout_seconds * len(keys) + STARTUP_SECONDS),
        "delay_seconds": delay_seconds,
        "parent_pid": os.getpid(),
    }


def _first(keys: list[Key], done: set[Key]) -> Key:
    return next(k for k in keys if k not in done)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    _wait(process)


def _wait(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that ignores SIGKILL
        process.kill()
        return process.wait()


def _exit_reason(code: int, limits: ProcessLimits, *, starting: bool = False) -> str:
    memory = describe_bytes(limits.memory_bytes)
    if code == EXIT_OUT_OF_MEMORY:
        return f"ran out of memory (limit {memory})"
    if code < 0:
        number = -code
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        if number == signal.SIGXCPU:
            return f"used more CPU time than allowed ({limits.timeout_seconds:g} s per check)"
        if number == signal.SIGKILL:
            return f"was killed (signal {name}), most likely for using too much memory (limit {memory})"
        return f"crashed (signal {name})"
    if starting:
        return f"could not start (exit code {code}); the memory limit of {memory} may be too low"
    return f"stopped unexpectedly (exit code {code})"


def _timed_out(key: Key, limits: ProcessLimits) -> CheckResult:
    name, version = key
    message = (
        f"The {name} check timed out after {limits.timeout_seconds:g} s and was stopped; the file is "
        "too large or too complex to check here. Split it into smaller files."
    )
    return CheckResult(
        name,
        version,
        "error",
        [Finding("timed_out", message)],
        {"timeout_seconds": limits.timeout_seconds},
        {"timed_out": 1},
    )


def _died(key: Key, reason: str, limits: ProcessLimits) -> CheckResult:
    name, version = key
    out_of_memory = "memory" in reason
    code = "out_of_memory" if "ran out of memory" in reason else "check_process_died"
    message = f"The {name} check {reason} and did not finish; the file will be checked again."
    if out_of_memory:
        message += " If this persists, the file is too large or too complex to check here: split it."
    return CheckResult(
        name,
        version,
        "error",
        [Finding(code, message)],
        {"memory_limit_bytes": limits.memory_bytes, "timeout_seconds": limits.timeout_seconds},
        {code: 1},
    )


def _child_env() -> dict[str, str]:
    """The child's environment: ours without the service's settings and secrets, and with Arrow on
    the system allocator (mimalloc reserves a gigabyte of address space up front) and few threads."""
    import governance

    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    root = str(Path(governance.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(
        ARROW_DEFAULT_MEMORY_POOL="system",
        MALLOC_ARENA_MAX="2",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


# ---- the child -----------------------------------------------------------------------------------------


def _limit_self(spec: dict[str, Any]) -> None:
    import resource

    memory = int(spec["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # die with the parent (Linux); a parent already gone means nobody waits for the results
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != int(spec.get("parent_pid", os.getppid())):
        os._exit(1)


def _limit_cpu(seconds: int) -> None:
    """Allow `seconds` more CPU time from now (SIGXCPU beyond): a backstop should the parent, which
    counts wall time per check, be gone."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _child() -> int:
    import faulthandler
    import gc

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the replies
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    line = requests.readline()
    if not line:
        return 0
    spec = json.loads(line)
    _limit_self(spec)
    faulthandler.enable()

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message, default=str) + "\n")
        channel.flush()

    try:
        import pyarrow as pa

        pa.set_cpu_count(_THREADS)
        pa.set_io_thread_count(_THREADS)
        from governance.outputs.checks.registry import default_checks
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    checks = {(c.name, c.version): c for c in default_checks()}
    while True:
        try:
            exhausted = _check_one(spec, checks, send)
        except MemoryError:
            return EXIT_OUT_OF_MEMORY
        send({"done": True, "exit": exhausted})
        if exhausted:
            return 0  # a fresh process for the next file
        gc.collect()
        line = requests.readline()
        if not line:
            return 0
        spec = json.loads(line)


def _check_one(spec: dict[str, Any], checks: dict[Key, Any], send: Callable[[dict[str, Any]], None]) -> bool:
    """Run the checks `spec` asks for; True when one of them ran out of memory."""
    from governance.outputs.checks.registry import out_of_memory, run_check
    from governance.outputs.risk_profile import RiskProfile

    _limit_cpu(int(spec["cpu_seconds"]))
    ctx = CheckContext(
        file_name=str(spec["file_name"]),
        profile=RiskProfile.model_validate(spec["profile"]),
        contributions_column=spec.get("contributions_column"),
        previous_release_tables=[Path(p) for p in spec.get("previous_release_tables", [])],
        contributions_path=Path(spec["contributions_path"]) if spec.get("contributions_path") else None,
        clamd_address=spec.get("clamd_address"),
        clamd_timeout_seconds=float(spec.get("clamd_timeout_seconds", 60.0)),
        clamd_max_stream_bytes=int(spec.get("clamd_max_stream_bytes", 25 * 1024 * 1024)),
    )
    path = Path(spec["path"])
    memory = int(spec["memory_bytes"])
    delay = float(spec.get("delay_seconds") or 0.0)
    exhausted = False
    for name, version in spec["checks"]:
        send({"start": [name, version]})
        if delay:
            time.sleep(delay)
        began = time.perf_counter()
        check = checks.get((name, version))
        if check is None:
            result = CheckResult(
                name,
                version,
                "error",
                [Finding("unknown_check", f"This worker has no {name} check of version {version}.")],
                {},
                {"unknown_check": 1},
            )
        else:
            result = run_check(check, path, ctx, memory_limit_bytes=memory)
        elapsed = int((time.perf_counter() - began) * 1000)
        exhausted = exhausted or "out_of_memory" in result.counts
        try:
            send({"result": result.to_dict(), "ms": elapsed})
        except MemoryError:
            ctx.cache.clear()
            exhausted = True
            send({"result": out_of_memory(name, version, memory).to_dict(), "ms": elapsed})
    ctx.cache.clear()
    return exhausted


if __name__ == "__main__":
    sys.exit(_child())
