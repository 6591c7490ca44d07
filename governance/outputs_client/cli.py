"""`governance-outputs`: ask for results to leave the workspace, and follow the request.

    governance-outputs submit FILE... --title T --context C --controls K [--project SLUG]
    governance-outputs status [REQUEST_ID]

Reads GOVERNANCE_URL, GOVERNANCE_TOKEN and GOVERNANCE_PROJECT from the environment (set in every TRE
workspace). Exit status: 0 success, 1 the service refused or could not be reached, 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from governance.outputs_client.api import ApiError, ConfigError, OutputsClient, Settings, settings_from_env

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class ProgressBar:
    """A one-line text bar on a stream, redrawn only when the whole percentage changes."""

    def __init__(self, label: str, stream: TextIO, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self._last = -1

    def __call__(self, sent: int, total: int) -> None:
        percent = 100 if total <= 0 else min(100, sent * 100 // total)
        if percent == self._last:
            return
        self._last = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% {_size(sent)} / {_size(total)}")
        if percent == 100:
            self.stream.write("\n")
        self.stream.flush()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="governance-outputs",
        description="Request the release of results from this workspace, and check on requests.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    submit = commands.add_parser("submit", help="upload files for output checking and submit them")
    submit.add_argument("files", nargs="+", type=Path, metavar="FILE")
    submit.add_argument("--title", required=True, help="a short title for the request")
    submit.add_argument("--context", required=True, help="what the files are and how they were made")
    submit.add_argument("--controls", required=True, help="the disclosure controls you applied")
    submit.add_argument("--project", help="project slug (default: $GOVERNANCE_PROJECT)")
    status = commands.add_parser("status", help="show a request, or list your requests")
    status.add_argument("request_id", nargs="?", metavar="REQUEST_ID")
    return parser


def _submit(client: OutputsClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    created = client.create_request(args.project, args.title)
    request_id = str(created.get("id", ""))
    if not request_id:
        raise ApiError("Unexpected answer from the governance service", "the new request has no id")
    try:
        for path in args.files:
            client.upload_file(
                request_id,
                path,
                context=args.context,
                controls=args.controls,
                progress=ProgressBar(path.name, err),
            )
        submitted = client.submit(request_id)
    except ApiError:
        err.write(f"note: request {request_id} was created but not submitted; it stays a draft\n")
        raise
    out.write(f"request {request_id}: {submitted.get('status', created.get('status', 'unknown'))}\n")
    return EXIT_OK


def _text(value: Any, default: str = "?") -> str:
    return " ".join(str(value).split()) if value not in (None, "") else default


def print_request(request: dict[str, Any], out: TextIO) -> None:
    out.write(f"request {_text(request.get('id'))}: {_text(request.get('status'))}\n")
    if request.get("title"):
        out.write(f"  title: {_text(request['title'])}\n")
    if request.get("project"):
        project = request["project"]
        if isinstance(project, dict):
            project = project.get("slug") or project.get("name")
        out.write(f"  project: {_text(project)}\n")
    if request.get("hold_reason"):
        out.write(f"  note: {_text(request['hold_reason'])}\n")
    files = request.get("files") or []
    if not isinstance(files, list) or not files:
        out.write("  no files\n")
        return
    for entry in files:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or entry.get("filename")
        review = entry.get("outcome")
        suffix = f" (review: {_text(review)})" if review and review != "pending" else ""
        out.write(f"  file {_text(name)}: {_text(entry.get('status'), 'pending')}{suffix}\n")
        checks = entry.get("checks") or []
        for check in checks if isinstance(checks, list) else []:
            if isinstance(check, dict):
                check_name = check.get("name") or check.get("check")
                outcome = check.get("status") or check.get("outcome") or check.get("result")
                findings = check.get("findings")
                count = f" ({len(findings)} findings)" if isinstance(findings, list) and findings else ""
                out.write(f"    check {_text(check_name)}: {_text(outcome, 'pending')}{count}\n")


def _status(client: OutputsClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.request_id:
        print_request(client.get_request(args.request_id), out)
        return EXIT_OK
    requests = client.list_my_requests()
    if not requests:
        out.write("you have no output requests\n")
    for request in requests:
        status = _text(request.get("status"))
        out.write(f"{_text(request.get('id'))}  {status:<10}  {_text(request.get('title'), '')}\n")
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has already printed the usage message
        return int(exit_.code or 0)
    try:
        settings: Settings = settings_from_env()
    except ConfigError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    if args.command == "submit":
        args.project = args.project or settings.project
        if not args.project:
            err.write("error: no project given; use --project SLUG or set GOVERNANCE_PROJECT\n")
            return EXIT_USAGE
        unreadable = [str(p) for p in args.files if not p.is_file()]
        if unreadable:
            err.write(f"error: not a readable file: {', '.join(unreadable)}\n")
            return EXIT_USAGE
    try:
        with OutputsClient(settings) as client:
            if args.command == "submit":
                return _submit(client, args, out, err)
            return _status(client, args, out)
    except ApiError as exc:
        err.write(f"error: {exc.title}: {exc.detail}\n" if exc.detail else f"error: {exc.title}\n")
        return EXIT_ERROR
    except OSError as exc:
        err.write(f"error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
