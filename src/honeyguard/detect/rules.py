"""Rule files: the typed records, and loading with errors that name file, line and field.

A rule file holds ``rules:``, a list of rules; docs/rules.md is the reference. Loading checks
every rule completely (fields, operators, regex safety, examples) so that a mistake is found
when rules load, never while a request is being matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from honeyguard.detect.fields import field_protocols, is_line_field, known_field, text_bytes
from honeyguard.detect.regexsafety import UnsafeRegex, check_regex
from honeyguard.errors import ContentError
from honeyguard.yamlfile import convert_located

BUILTIN_RULES = Path(__file__).resolve().parents[1] / "content" / "rules"
OPERATORS = ("contains", "equals", "startswith", "endswith", "regex")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RuleId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,127}$")]
CveId = Annotated[str, msgspec.Meta(pattern=r"^CVE-\d{4}-\d{4,7}$")]
TechniqueId = Annotated[str, msgspec.Meta(pattern=r"^T\d{4}(\.\d{3})?$")]
Severity = Literal["info", "low", "medium", "high", "critical"]


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class HttpExample(_Strict):
    method: str = "GET"
    target: str = "/"
    version: str = "HTTP/1.1"
    headers: dict[str, str] = {}
    body: str = ""


class SshExample(_Strict):
    command: str | None = None
    username: str | None = None
    password: str | None = None


class RedisExample(_Strict):
    args: Annotated[list[str], msgspec.Meta(min_length=1)]  # the command name, then its arguments


class Example(_Strict):
    http: HttpExample | None = None
    raw: str | None = None
    ssh: SshExample | None = None
    redis: RedisExample | None = None


class Examples(_Strict):
    positive: Annotated[list[Example], msgspec.Meta(min_length=1)]
    negative: Annotated[list[Example], msgspec.Meta(min_length=1)]


class RuleSpec(_Strict):
    """A rule as written in YAML (``match`` is checked separately, for precise locations)."""

    id: RuleId
    name: Annotated[str, msgspec.Meta(min_length=1)]
    severity: Severity
    protocol: Literal["http", "ssh", "redis", "any"]
    match: Any
    examples: Examples
    cves: list[CveId] = []
    techniques: list[TechniqueId] = []
    product: str | None = None
    references: list[str] = []
    description: str = ""  # optional, free text
    tags: list[str] = []  # optional, free words (e.g. "scanner", "iot")


class _RuleFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rules: list[Any]


@dataclass(frozen=True, slots=True)
class Atom:
    """One pattern of one leaf: the unit Hyperscan matches (a leaf with a list has several)."""

    field: str
    op: str
    value: bytes
    case: bool


@dataclass(frozen=True, slots=True)
class Leaf:
    field: str
    op: str
    atoms: tuple[Atom, ...]
    line: int | None


@dataclass(frozen=True, slots=True)
class Cond:
    """A node of the condition tree: kind is 'all', 'any', 'not' or 'leaf'."""

    kind: str
    children: tuple[Cond, ...] = ()
    leaf: Leaf | None = None


@dataclass(frozen=True, slots=True)
class Located:
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Rule:
    spec: RuleSpec
    condition: Cond
    where: Located
    example_lines: tuple[tuple[int | None, ...], tuple[int | None, ...]]  # positive, negative

    @property
    def id(self) -> str:
        return self.spec.id


def discover(paths: Iterable[Path]) -> list[Path]:
    """Rule files under each path (a file or a folder searched recursively), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ContentError("no such rule file or folder", file=str(path))
    return found


def load_rule_files(files: Iterable[Path]) -> tuple[list[Rule], list[ContentError]]:
    """Every valid rule, and an error for each invalid one (duplicates included)."""
    rules: list[Rule] = []
    errors: list[ContentError] = []
    seen: dict[str, Located] = {}
    for path in files:
        try:
            loaded = load_rule_file(path)
        except ContentError as exc:
            errors.append(exc)
            continue
        for rule in loaded:
            if isinstance(rule, ContentError):
                errors.append(rule)
                continue
            first = seen.get(rule.id)
            if first is not None:
                errors.append(ContentError(f"duplicate rule id {rule.id!r} (first at {first.file}:{first.line})",
                                           file=rule.where.file, line=rule.where.line, key="id"))
                continue
            seen[rule.id] = rule.where
            rules.append(rule)
    return rules, errors


def load_rule_file(path: Path) -> list[Rule | ContentError]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"cannot read: {exc}", file=source) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ContentError(f"invalid YAML: {exc.problem or exc}", file=source,
                           line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ContentError(f"invalid YAML: {exc}", file=source) from None
    if data is None:
        return []
    convert_located(data, node, _RuleFile, error=ContentError, source=source)
    rule_nodes = _child(node, "rules")
    out: list[Rule | ContentError] = []
    for index, item in enumerate(data["rules"]):
        item_node = _child(rule_nodes, index)
        try:
            out.append(_load_rule(item, item_node, source))
        except ContentError as exc:
            out.append(exc)
    return out


def _load_rule(data: Any, node: yaml.Node | None, source: str) -> Rule:
    line = node.start_mark.line + 1 if node is not None else None
    spec = convert_located(data, node, RuleSpec, error=ContentError, source=source)
    rule_id = spec.id
    condition = _condition(data["match"], _child(node, "match"), "match", spec.protocol, source, rule_id)
    if _evaluate_empty(condition):
        raise ContentError(f"rule {rule_id}: the condition holds for a request that hits no pattern "
                           "(a rule needs a positive condition, not only 'not')",
                           file=source, line=_line(_child(node, "match"), line), key="match")
    example_nodes = _child(node, "examples")
    lines = tuple(
        tuple(_line(_child(_child(example_nodes, kind), i), line) for i in range(len(getattr(spec.examples, kind))))
        for kind in ("positive", "negative")
    )
    for kind in ("positive", "negative"):
        for i, example in enumerate(getattr(spec.examples, kind)):
            _check_example(example, spec.protocol, source, lines[0 if kind == "positive" else 1][i],
                           f"examples.{kind}[{i}]", rule_id)
    return Rule(spec=spec, condition=condition, where=Located(source, line),
                example_lines=(lines[0], lines[1]))


def _check_example(example: Example, protocol: str, source: str, line: int | None, key: str, rule_id: str) -> None:
    given = [k for k in ("http", "raw", "ssh", "redis") if getattr(example, k) is not None]
    if len(given) != 1:
        raise ContentError(f"rule {rule_id}: an example is exactly one of http, raw, ssh or redis", file=source,
                           line=line, key=key)
    if protocol != "any" and given[0] not in ("raw", protocol):  # raw bytes fit any rule
        raise ContentError(f"rule {rule_id}: a {given[0]} example for a {protocol} rule", file=source,
                           line=line, key=key)


def _condition(data: Any, node: yaml.Node | None, key: str, protocol: str, source: str, rule_id: str) -> Cond:
    line = _line(node, None)

    def fail(message: str, where: str = key, at: int | None = line) -> ContentError:
        return ContentError(f"rule {rule_id}: {message}", file=source, line=at, key=where)

    if not isinstance(data, dict) or not data:
        raise fail("a condition is a mapping: all, any, not, or a leaf with field and one operator")
    combinators = [k for k in ("all", "any", "not") if k in data]
    if combinators:
        if len(data) != 1:
            raise fail(f"{combinators[0]!r} must be alone in its mapping")
        kind = combinators[0]
        child_node = _child(node, kind)
        if kind == "not":
            return Cond("not", (_condition(data["not"], child_node, f"{key}.not", protocol, source, rule_id),))
        items = data[kind]
        if not isinstance(items, list) or not items:
            raise fail(f"{kind!r} takes a non-empty list of conditions", f"{key}.{kind}", _line(child_node, line))
        return Cond(kind, tuple(
            _condition(item, _child(child_node, i), f"{key}.{kind}[{i}]", protocol, source, rule_id)
            for i, item in enumerate(items)
        ))
    return Cond("leaf", leaf=_leaf(data, node, key, protocol, fail))


def _leaf(data: dict[str, Any], node: yaml.Node | None, key: str, protocol: str, fail: Any) -> Leaf:
    line = _line(node, None)
    unknown = sorted(set(data) - {"field", "case", *OPERATORS})
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}", f"{key}.{unknown[0]}", _line(_child(node, unknown[0]), line))
    name = data.get("field")
    if not isinstance(name, str) or not known_field(name):
        raise fail(f"unknown field {name!r} (see docs/rules.md for the fields)", f"{key}.field",
                   _line(_child(node, "field"), line))
    if protocol != "any" and protocol not in field_protocols(name):
        raise fail(f"field {name!r} is not a {protocol} field", f"{key}.field", _line(_child(node, "field"), line))
    ops = [op for op in OPERATORS if op in data]
    if len(ops) != 1:
        raise fail("a leaf takes exactly one of " + ", ".join(OPERATORS), key, line)
    op = ops[0]
    case = data.get("case", False)
    if not isinstance(case, bool):
        raise fail("case is true or false", f"{key}.case", _line(_child(node, "case"), line))
    raw_values = data[op]
    values = raw_values if isinstance(raw_values, list) else [raw_values]
    where, at = f"{key}.{op}", _line(_child(node, op), line)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise fail(f"{op} takes a non-empty string or a list of them", where, at)
    atoms = []
    for value in values:
        pattern = text_bytes(value)
        if op == "regex":
            try:
                check_regex(pattern, regex_flags(case))
            except UnsafeRegex as exc:
                raise fail(f"{exc}: {value!r}", where, at) from None
        atoms.append(Atom(field=name, op=op, value=pattern, case=case))
    return Leaf(field=name, op=op, atoms=tuple(atoms), line=line)


def regex_flags(case: bool) -> int:
    return re.MULTILINE | (0 if case else re.IGNORECASE)


def _evaluate_empty(cond: Cond) -> bool:
    """The condition's value when no pattern hits: must be False for the prefilter to be exact."""
    if cond.kind == "leaf":
        return False
    if cond.kind == "not":
        return not _evaluate_empty(cond.children[0])
    values = [_evaluate_empty(c) for c in cond.children]
    return all(values) if cond.kind == "all" else any(values)


def _child(node: yaml.Node | None, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for k, v in node.value:
            if getattr(k, "value", None) == step:
                return v  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]  # type: ignore[no-any-return]
    return None


def _line(node: yaml.Node | None, default: int | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else default


def line_semantics(field: str) -> bool:
    return is_line_field(field)
