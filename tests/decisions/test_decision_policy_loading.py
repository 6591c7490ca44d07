"""Loading a policy directory: validation against the schema, errors that name file and line, ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from governance.decisions.engine import (
    PolicyEngine,
    PolicyLoadError,
    check_policies,
    directory_version,
    policy_start_lines,
)
from governance.decisions.situation import SAFES, LaunchSituation

EXTRA_POLICY = """
@id("people-not-on-holiday")
@safe("people")
@reason("{user} is on holiday")
forbid (principal is User, action == Action::"launch:people", resource)
when { principal.username == "alice" };
"""


def _load_error(directory: Path) -> str:
    with pytest.raises(PolicyLoadError) as caught:
        PolicyEngine.from_directory(directory)
    return str(caught.value)


def test_shipped_policies_load_with_annotations_for_every_forbid(engine: PolicyEngine) -> None:
    forbids = [p for p in engine.policies.values() if p.effect == "forbid"]
    assert {p.safe for p in forbids} == set(SAFES)
    assert all(p.reason and p.file == "five_safes.cedar" and p.line > 1 for p in forbids)
    assert engine.warnings == []
    text = (engine.directory / "five_safes.cedar").read_text(encoding="utf-8").split("\n")
    for policy in forbids:  # the recorded line is where the policy (its first annotation) starts
        assert text[policy.line - 1].startswith("@id"), policy


def test_version_is_a_sha256_that_changes_with_any_file(policy_copy: Path) -> None:
    before = PolicyEngine.from_directory(policy_copy).version
    assert len(before) == 64 and int(before, 16) >= 0
    assert directory_version(policy_copy) == before
    schema = policy_copy / "schema.cedarschema"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n// a comment\n", encoding="utf-8")
    assert PolicyEngine.from_directory(policy_copy).version != before


def test_a_syntax_error_names_file_and_line(policy_copy: Path) -> None:
    path = policy_copy / "five_safes.cedar"
    lines = path.read_text(encoding="utf-8").split("\n")
    target = next(i for i, line in enumerate(lines) if 'principal.status != "active"' in line)
    lines[target] = lines[target].replace('!= "active"', '!= "active" &&')
    path.write_text("\n".join(lines), encoding="utf-8")
    message = _load_error(policy_copy)
    assert message.startswith(f"five_safes.cedar:{target + 1}: syntax error:"), message


def test_a_syntax_error_in_a_second_file_names_that_file(policy_copy: Path) -> None:
    (policy_copy / "zz_local.cedar").write_text(
        "// local rules\n\npermit (principal, action, resource)\n", "utf-8"
    )
    message = _load_error(policy_copy)
    assert message.startswith("zz_local.cedar:3: syntax error:"), message


def test_comparing_a_string_to_a_long_fails_validation_with_file_line_and_id(policy_copy: Path) -> None:
    (policy_copy / "local.cedar").write_text(
        "// site rules\n"
        '@id("people-odd-status")\n@safe("people")\n@reason("odd")\n'
        'forbid (principal is User, action == Action::"launch:people", resource)\n'
        "when { principal.status > 3 };\n",
        encoding="utf-8",
    )
    message = _load_error(policy_copy)
    assert message.startswith("policy validation failed:\nlocal.cedar:2: policy `people-odd-status`"), message
    assert "Long" in message


def test_an_unknown_attribute_fails_validation(policy_copy: Path) -> None:
    (policy_copy / "local.cedar").write_text(
        '@id("x")\n@safe("people")\n@reason("x")\n'
        'forbid (principal is User, action == Action::"launch:people", resource)\n'
        'when { principal.favouriteColour == "red" };\n',
        encoding="utf-8",
    )
    assert _load_error(policy_copy).startswith("policy validation failed:\nlocal.cedar:1: policy `x`")


def test_a_schema_error_names_the_schema_file_and_line(policy_copy: Path) -> None:
    schema = policy_copy / "schema.cedarschema"
    lines = schema.read_text(encoding="utf-8").split("\n")
    target = next(i for i, line in enumerate(lines) if line.startswith("entity Unknown;"))
    lines[target] = "entity Unknown = { oops };"
    schema.write_text("\n".join(lines), encoding="utf-8")
    message = _load_error(policy_copy)
    assert message.startswith(f"schema.cedarschema:{target + 1}: invalid schema:"), message


def test_a_schema_that_does_not_describe_the_launch_requests_is_refused(policy_copy: Path) -> None:
    schema = policy_copy / "schema.cedarschema"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace("username: String,", "username: Long,"), "utf-8"
    )
    message = _load_error(policy_copy)
    assert "the schema does not fit the launch requests" in message and "username" in message


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ('@safe("people")\n@reason("r")\nforbid (principal, action == Action::"launch:people", resource);',
         'local.cedar:1: forbid policy needs an @id("...") annotation'),
        ('@id("a")\n@reason("r")\nforbid (principal, action == Action::"launch:people", resource);',
         "local.cedar:1: policy `a`: @safe must be one of people, projects, data, settings (got None)"),
        ('@id("a")\n@safe("people")\nforbid (principal, action == Action::"launch:people", resource);',
         'local.cedar:1: policy `a`: forbid policy needs a non-empty @reason("...")'),
        ('@id("a")\n@safe("people")\n@reason("hello {nobody}")\n'
         'forbid (principal, action == Action::"launch:people", resource);',
         "local.cedar:1: policy `a`: unknown placeholder(s) in @reason: nobody"),
        ('@id("a")\n@safe("data")\n@reason("r")\n'
         'forbid (principal, action == Action::"launch:people", resource);',
         'local.cedar:1: policy `a`: a forbid with @safe("data") must apply to action == '),
        ('@id("a")\n@safe("data")\n@reason("r")\nforbid (principal, action, resource);',
         'local.cedar:1: policy `a`: a forbid with @safe("data") must apply to action == '),
        ('@id("launch-permitted")\npermit (principal, action, resource);',
         "local.cedar:1: policy id `launch-permitted` is already used at five_safes.cedar:"),
        ("permit (principal == ?principal, action, resource);",
         "local.cedar:1: templates (?principal/?resource) are not supported"),
    ],
)  # fmt: skip
def test_annotation_rules(policy_copy: Path, policy: str, message: str) -> None:
    (policy_copy / "local.cedar").write_text(policy + "\n", encoding="utf-8")
    assert _load_error(policy_copy).startswith(message)


def test_missing_files_are_reported(tmp_path: Path) -> None:
    assert "not a directory" in _load_error(tmp_path / "absent")
    assert "expected exactly one .cedarschema file, found none" in _load_error(tmp_path)
    (tmp_path / "schema.cedarschema").write_text("entity User;", encoding="utf-8")
    assert "no .cedar policy files" in _load_error(tmp_path)


def test_policies_from_several_files_are_combined(
    policy_copy: Path, make_situation: Callable[[], LaunchSituation], engine: PolicyEngine
) -> None:
    (policy_copy / "local.cedar").write_text(EXTRA_POLICY, encoding="utf-8")
    combined = PolicyEngine.from_directory(policy_copy, strict=True)
    assert combined.policies["people-not-on-holiday"].file == "local.cedar"
    assert combined.policies["people-not-on-holiday"].line == 2
    verdict = combined.evaluate(make_situation())
    assert verdict.safes["people"].reasons == ["alice is on holiday"]
    assert verdict.safes["people"].policies == ["people-not-on-holiday"]
    assert engine.evaluate(make_situation()).allowed


def test_a_missing_permit_is_a_warning_and_denies_by_default(
    policy_copy: Path, make_situation: Callable[[], LaunchSituation]
) -> None:
    path = policy_copy / "five_safes.cedar"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('    Action::"launch:data",\n', ""), encoding="utf-8")
    narrowed = PolicyEngine.from_directory(policy_copy)
    assert narrowed.warnings == [
        'no permit policy applies to action "launch:data": every data check will be denied'
    ]
    verdict = narrowed.evaluate(make_situation())
    assert not verdict.allowed
    assert verdict.safes["data"].reasons == ["no policy permits this (data); access is denied by default"]
    assert "warning: no permit policy applies" in check_policies(policy_copy)


def test_check_policies_summarises(engine: PolicyEngine) -> None:
    summary = check_policies(engine.directory)
    assert summary.startswith("policies OK: 33 policies in 1 file(s) (five_safes.cedar)")
    assert (
        "forbid policies per safe: people 11, projects 8, data 6, settings 7; permit policies: 1" in summary
    )
    assert summary.endswith(f"version {engine.version}")


def test_policy_start_lines_ignore_semicolons_in_strings_and_comments() -> None:
    text = (
        '// a; b "c;\n\npermit (principal, action, resource)\n'
        'when { "x;\\";" == "y" }; // ;\n  forbid (principal, action, resource);'
    )
    assert policy_start_lines(text) == [3, 5]
