from __future__ import annotations

import pytest

from governance.identity.next_url import safe_next

EVIL = [
    "//evil.example",
    "https://evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "///evil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%255Cevil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "/\tevil",
    "/ok\r\nSet-Cookie: x=1",
    "evil.example",
    "",
    None,
    "/" + "a" * 2001,
]


@pytest.mark.parametrize("value", EVIL)
def test_anything_but_a_local_path_lands_on_the_start_page(value: str | None) -> None:
    assert safe_next(value) == "/"


LOCAL = ["/", "/projects", "/projects?tab=mine&x=1", "/a/b#frag", "/files/a%20b.csv"]


@pytest.mark.parametrize("value", LOCAL)
def test_local_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value
