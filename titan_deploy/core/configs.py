"""Config files rendered from a template and secret values (README "Config files"): redis.conf
with `requirepass`, nats.conf's authorization block, a DSN. Pure: the template's text and the
input values come in, the rendered bytes (or a problem) go out; ops/configs.py reads and writes.

The template runs in Jinja's SandboxedEnvironment with StrictUndefined and no globals: it sees
only its declared inputs (as text), can call no unsafe attribute, and `*`/`**` cannot build a
huge string or number. A template can never print a value: every error is turned into a
`TemplateProblem` whose message names the template, the line and the kind of error, and quotes
Jinja's own detail only when all it quotes is the template's own words or type names and it
holds no piece of any input value (`_clean`; otherwise the detail is withheld). Nothing else
of a render is ever shown.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from titan_deploy.core.findings import Finding, error
from titan_deploy.core.limits import MAX_SECRET_BYTES
from titan_deploy.core.redact import Redactor

if TYPE_CHECKING:  # check-secrets renders templates without loading verify
    from titan_deploy.core.verify import Facts

MAX_REPEAT = 1 << 20  # `"x" * n`, `[..] * n`: at most this many items / characters
MAX_POWER = 4096  # `a ** b`: at most this exponent
WITHHELD = "detail withheld: it may quote an input's value"


class TemplateProblem(Exception):
    """A template that cannot be used: `code` is "undeclared" (it references a name that is not
    one of its inputs) or "render" (syntax, runtime error, too large). The message holds no
    value (module doc)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def warm() -> None:
    """Build the sandbox and its lexer (its regular expressions) in this process, once. Called
    before forking the bounded children that parse and render (ops/configs.py), so that each
    inherits them instead of importing Jinja and compiling the lexer again (~30 ms a child)."""
    _ = _environment().lexer


@functools.cache
def _environment() -> Any:
    """The sandbox: StrictUndefined, no globals, bounded `*` and `**`, no autoescape. One per
    process (a parse or render does not change it)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment, SecurityError

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int) and abs(right) > MAX_POWER:
                raise SecurityError("exponent too large")
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    sized = isinstance(seq, (str, list, tuple)) and isinstance(count, int)
                    if sized and len(seq) * count > MAX_REPEAT:
                        raise SecurityError("repetition too large")
            return super().call_binop(context, operator, left, right)

    env = Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    return env


def referenced(template: str, source: str, inputs: Iterable[str]) -> None:
    """Raise TemplateProblem when `source` (the template's text, shown as `template`) does not
    parse ("render") or references a name that is not one of `inputs` ("undeclared", naming
    those names: identifiers of the template, never values)."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        names = meta.find_undeclared_variables(_environment().parse(source))
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            "render", f"{template}: line {exc.lineno}: syntax error: {exc.message}"
        ) from None
    unknown = sorted(set(names) - set(inputs))
    if unknown:
        raise TemplateProblem(
            "undeclared",
            f"{template} references {', '.join(unknown)}, not among its inputs "
            f"({', '.join(inputs)})",
        )


def render(template: str, source: str, values: Mapping[str, bytes]) -> bytes:
    """The config rendered from `source` (the text of `template`) with `values` (input name ->
    its trimmed value, given to the template as UTF-8 text). TemplateProblem (scrubbed: module
    doc) when it references anything else, fails to render, or renders more than Docker's
    secret limit."""
    referenced(template, source, values)
    text_values = {}
    for name, value in values.items():
        try:
            text_values[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateProblem("render", f"{template}: input {name} is not UTF-8 text") from None
    try:
        out = _environment().from_string(source).render(text_values)
    except MemoryError:  # under the caller's memory cap (ops/configs.render_bounded)
        raise TemplateProblem("render", f"{template}: the template needs too much memory") from None
    except Exception as exc:  # any error of a template: one scrubbed line
        raise TemplateProblem("render", _describe(template, exc, source, values.values())) from None
    data = out.encode("utf-8")
    if len(data) >= MAX_SECRET_BYTES:
        raise TemplateProblem("render", f"{template}: renders {len(data)} bytes, over the limit")
    return data


def _describe(template: str, exc: BaseException, source: str, values: Iterable[bytes]) -> str:
    """`TEMPLATE: line N: ErrorType: detail` without any piece of any value: Jinja's detail is
    kept only when it is `_clean` (else WITHHELD)."""
    line = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    detail = str(exc).splitlines()[0] if str(exc) else ""
    if detail and not _clean(detail, source, list(values)):
        detail = WITHHELD
    where = f"line {line}: " if line else ""
    return f"{template}: {where}{type(exc).__name__}" + (f": {detail}" if detail else "")


# Names an error detail may quote besides the template's own words: Python's and Jinja's types.
TYPE_WORDS = frozenset(
    f"{name}{suffix}"
    for name in (
        "str", "int", "float", "bool", "list", "dict", "tuple", "set", "NoneType", "bytes",
        "Markup", "range", "Undefined", "StrictUndefined", "LoopContext", "Namespace",
        "Cycler", "Joiner", "generator", "function", "builtin_function_or_method", "method",
    )
    for suffix in ("", " object")
)  # fmt: skip


def _clean(detail: str, source: str, values: list[bytes]) -> bool:
    """Whether Jinja's `detail` may be shown. A value reaches a detail transformed as often as
    whole (`{}[pw|upper]`, `pw[::-1]`, `pw[:7]`, `pw|int + 1`), so no redactor of the values can
    decide alone: every quoted piece of the detail must be a word of the template itself (a name,
    an attribute, a filter, a constant) or a type name, every word holding a digit outside the
    quotes must be such a word too, and the rest must not hold a piece of a value (core/redact)."""
    import re

    words = _template_words(source) | TYPE_WORDS
    quoted = re.findall(r"'([^']*)'|\"([^\"]*)\"", detail)
    if any((a or b) not in words for a, b in quoted):
        return False
    rest = re.sub(r"'[^']*'|\"[^\"]*\"", "''", detail)
    if any(w not in words for w in re.findall(r"\w*\d\w*", rest)):
        return False
    if Redactor(values, include_remembered=False)(detail) != detail:
        return False
    return not any(v.strip() and v.strip() in detail.encode() for v in values)


def _template_words(source: str) -> set[str]:
    """The words a template's text itself holds: names, attributes, filters, tests, keywords
    and constants (as text). Empty when it does not parse."""
    from jinja2 import TemplateSyntaxError, nodes

    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError:
        return set()
    words: set[str] = set()
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Filter, nodes.Test)):
        words.add(str(getattr(node, "name", None) or getattr(node, "attr", "")))
    for node in tree.find_all(nodes.Keyword):
        words.add(node.key)
    for node in tree.find_all(nodes.Const):
        words.add(str(node.value))
    return words


def fresh_render_findings(facts: Facts, digests: Mapping[str, str]) -> list[tuple[Finding, str]]:
    """(V009, the row's label: Mount.label) for every container whose file of a config is not
    a fresh render (`digests`: config -> sha256 of the render from the current inputs), by
    hash only. A file seen by inode
    only (no hash) is judged by the host file it is (verify proved the inode is the host's)."""
    found = []
    for svc in facts.plan.services:
        for mount in svc.mounts:
            want = digests.get(mount.secret)
            if want is None:
                continue
            for info in facts.containers.get(svc.service, []):
                stat = facts.files.get((info.id, mount.container_path))
                if stat is None or not stat.exists:
                    continue  # V001, by verify
                host = facts.host.get(mount.source)
                seen = stat.sha256 or (host.sha256 if host is not None else "")
                if seen and seen != want:
                    found.append(
                        (
                            error(
                                "V009",
                                f"{info.name}: {mount.container_path} is not what config "
                                f"{mount.secret} renders from its template and inputs now",
                                fix=(
                                    "titan-deploy up (renders it again; a consumer on the base "
                                    "file is recreated); one on a rotation version gets a fresh "
                                    "render with the next rotation of an input"
                                ),
                                service=svc.service,
                                secret=mount.secret,
                            ),
                            mount.label,
                        )
                    )
    return found


def embedded_values(
    template: str,
    source: str,
    inputs: tuple[str, ...],
    rendered: bytes,
    nonce: str,
    render: Callable[[str, str, Mapping[str, bytes]], bytes] = render,
) -> dict[str, list[bytes]]:
    """The input values a rendered config holds, found without knowing them: the template is
    rendered with a marker per input (`nonce` makes them unique) and the file is matched
    against that shape, each marker's place giving that input's value as written. For a file
    that does not match (a filter changed a marker, another template), every line of the file
    that is not a line of the marked render is returned under the first input: the lines that
    hold values, never the whole file. {} when the template cannot be rendered. `render`: how
    to render (the caller's bounded render: ops/configs.render_bounded)."""
    import re

    markers = {name: f"TitanInput{i}x{nonce}" for i, name in enumerate(inputs)}
    try:
        shape = render(template, source, {n: m.encode() for n, m in markers.items()})
    except TemplateProblem:
        return {}
    text = rendered.decode("utf-8", "replace").strip()  # as read: trimmed
    found: dict[str, list[bytes]] = {}
    split = re.split("(" + "|".join(map(re.escape, markers.values())) + ")", shape.decode().strip())
    if len(split) > 1:
        by_marker = {m: n for n, m in markers.items()}
        pattern = "".join(
            f"(?P<g{i}>.+?)" if part in by_marker else re.escape(part)
            for i, part in enumerate(split)
        )
        match = re.fullmatch(pattern, text, re.DOTALL)
        if match is not None:
            for i, part in enumerate(split):
                if part in by_marker:
                    found.setdefault(by_marker[part], []).append(match[f"g{i}"].encode())
            return found
    literal = set(shape.decode().splitlines())
    lines = [ln.strip().encode() for ln in text.splitlines() if ln not in literal and ln.strip()]
    return {inputs[0]: lines} if lines else {}
