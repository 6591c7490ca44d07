"""Where to go after login: only ever a path on this service, never another host."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_NEXT_LENGTH = 2000
HOME = "/"


def safe_next(raw: str | None) -> str:
    """`raw` when it is a plain local path ("/projects?x=1"), otherwise "/".

    Refused: anything with a scheme or host (`https://evil`, `//evil`, `///evil`), backslashes
    (browsers treat `/\\evil` as `//evil`), and the same tricks percent-encoded once or more
    (`/%5Cevil`, `/%2F%2Fevil`), control characters and over-long values.
    """
    if not raw or len(raw) > MAX_NEXT_LENGTH:
        return HOME
    decoded = raw
    for _ in range(4):  # undo nested percent-encoding so every layer is checked
        step = unquote(decoded)
        if step == decoded:
            break
        decoded = step
    else:
        return HOME
    for candidate in (raw, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return HOME
        if "\\" in candidate or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in candidate):
            return HOME
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return HOME
    return raw
