"""The ErrorInfo reasons: declared once per owner, given at every raise,
spelled as google.rpc.ErrorInfo asks, and listed in the README."""

import ast
import re
from pathlib import Path

from media_service.reasons import MediaReason
from mesh import errors
from mesh.errors import Reason
from post_service.reasons import PostReason

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("mesh", "media_service", "post_service")
ENUMS = {"Reason": Reason, "MediaReason": MediaReason, "PostReason": PostReason}
ERROR_CLASSES = {cls.__name__ for cls in errors.ERRORS} | {"MeshError"}
# google.rpc.ErrorInfo: the reason, and the keys of its metadata.
REASON = re.compile(r"[A-Z][A-Z0-9_]+[A-Z0-9]")
METADATA_KEY = re.compile(r"[a-z][a-zA-Z0-9-_]+")


def _declared() -> list[str]:
    return [str(member) for enum in ENUMS.values() for member in enum]


def _trees() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(), str(path)))
        for package in SERVICES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


def _error_constructions() -> list[tuple[Path, ast.Call]]:
    return [
        (path, node)
        for path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ERROR_CLASSES
    ]


def test_each_reason_is_declared_once_and_spelled_as_error_info_asks():
    declared = _declared()

    assert len(declared) == len(set(declared)), "a reason declared by two owners"
    for reason in declared:
        assert REASON.fullmatch(reason) and len(reason) <= 63, reason
    for enum in ENUMS.values():
        assert all(member.name == member.value for member in enum)


def test_every_error_the_services_raise_gives_its_reason():
    unnamed = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path, call in _error_constructions()
        if not any(keyword.arg == "reason" for keyword in call.keywords)
    ]

    assert unnamed == []


def test_metadata_keys_are_lower_camel_case():
    keys = [
        (f"{path.relative_to(ROOT)}:{key.lineno}", key.value)
        for path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "metadata"
        if isinstance(node.value, ast.Dict)
        for key in node.value.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    ]

    assert keys, "no metadata found: the scan is broken"
    for where, key in keys:
        assert METADATA_KEY.fullmatch(key) and len(key) <= 64, (where, key)


def test_every_declared_reason_is_given_somewhere():
    used = {
        f"{node.value.id}.{node.attr}"
        for _path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ENUMS
    }

    unused = [
        f"{name}.{member.name}"
        for name, enum in ENUMS.items()
        for member in enum
        if f"{name}.{member.name}" not in used
    ]
    assert unused == []


def _readme_reasons() -> list[str]:
    """The first column of the table under the README's "### Error reasons"."""
    text = (ROOT / "README.md").read_text()
    heading = re.search(r"^### Error reasons[ \t]*$", text, re.MULTILINE)
    assert heading, 'the README has no "### Error reasons" section'
    section = re.split(r"^#{1,3} ", text[heading.end() :], maxsplit=1, flags=re.MULTILINE)[0]
    return re.findall(r"^\|\s*`([A-Z0-9_]+)`\s*\|", section, re.MULTILINE)


def test_the_readme_lists_exactly_the_reasons_in_the_code():
    listed = _readme_reasons()

    assert len(listed) == len(set(listed)), "a reason listed twice"
    assert sorted(listed) == sorted(_declared())
