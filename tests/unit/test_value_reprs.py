"""No value reaches a repr (ARCHITECTURE.md invariant 1): an object that holds secret values in
memory shows how many, never what, so a repr in a message, a log or a debugger's view leaks
nothing. Every dataclass of the package with a bytes field is checked by the AST test below."""

from __future__ import annotations

import ast
import secrets

from tests.canary import assert_no_canary
from tests.paths import PACKAGE


def test_holders_of_values_have_a_repr_without_them() -> None:
    from titan_deploy.core.leaks import SearchContext, _Collector
    from titan_deploy.core.lint_envfiles import LintEnv
    from titan_deploy.ops.rotate.command import Command

    value = f"Repr-{secrets.token_urlsafe(24)}".encode()
    collector = _Collector(SearchContext())
    collector.origins[value] = []
    collector.strong.add(value)
    shown = [
        repr(Command("rotate x", summary=lambda r, o: "", inputs={"k": value})),
        repr(LintEnv(values={"k": value})),
        repr(collector),
    ]
    assert_no_canary({"k": value}, shown)


# fields of bytes that hold no secret value: names of paths, digests
NOT_VALUES = {("SearchContext", "exclusions"), ("Digest", "digest")}


def test_every_dataclass_with_bytes_fields_hides_them() -> None:
    """A new dataclass holding bytes gets `repr=False` on the field or its own __repr__."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                continue
            own_repr = any(
                isinstance(b, ast.FunctionDef) and b.name == "__repr__" for b in node.body
            ) or any("repr=False" in ast.unparse(d) for d in node.decorator_list)
            for item in node.body:
                if not isinstance(item, ast.AnnAssign) or "bytes" not in ast.unparse(
                    item.annotation
                ):
                    continue
                name = ast.unparse(item.target)
                if own_repr or "repr=False" in ast.unparse(item) or (node.name, name) in NOT_VALUES:
                    continue
                found.append(f"{path.relative_to(PACKAGE)}: {node.name}.{name}")
    assert not found, f"values would show in repr(): {found}"


def test_a_test_stack_repr_holds_no_value() -> None:
    """pytest prints the arguments of a call in a failed assert (`refusals(stack) == 0`): the
    engine tests' Stack (and DemoStack, RotationStack: subclasses) must not show its values."""
    from pathlib import Path

    from tests.integration.demo import DemoStack
    from tests.integration.stackkit import Stack

    value = f"Repr-{secrets.token_urlsafe(24)}".encode()
    shown = []
    for kind in (Stack, DemoStack):
        stack = kind(root=Path("/nowhere"), name="tdtest-repr", image="busybox")
        stack.values["k"] = value
        shown.append(repr(stack))
    assert_no_canary({"k": value}, shown)


def test_the_test_helpers_holding_values_show_none_in_their_repr() -> None:
    """The same for every other test helper that holds canary values (adopt's Titan-like project,
    the hostile fuzz's world, the fake engine's files): a failed assert prints them."""
    from pathlib import Path

    from tests.adoptkit import TitanLike
    from tests.cli.test_hostile_fuzz import World
    from tests.fakes import FakeFile

    value = f"Repr-{secrets.token_urlsafe(24)}".encode()
    where = Path("/nowhere")
    shown = [
        repr(TitanLike(root=where, values={"k": value}, untouched={"f": value})),
        repr(World(root=where, project=where, outside=where, values={"k": value})),
        repr(FakeFile(content=value)),
    ]
    assert_no_canary({"k": value}, shown)
