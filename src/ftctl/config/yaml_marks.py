"""A YAML reader that remembers where every key and value came from.

PyYAML's composer gives nodes with start marks; we build plain Python values from
them ourselves so that we can record, for every field path, the line and column of
its key and of its value (`SourceMap`), and report duplicate keys instead of letting
the last one silently win.

Nodes are composed by libyaml (`CSafeLoader`, five times faster) when PyYAML has it. It
marks nodes as PyYAML does and accepts the same texts, except in cases that go through
the pure-Python loader instead, as does any text with a problem (its messages are the
ones reported): tabs, `?` in plain scalars of flow collections (`{a: b?}`) and comments
right after a block scalar's indicator (`|#`), which libyaml accepts and PyYAML rejects,
and empty values in flow collections (`{a: }`) and empty keys (`?` alone), which libyaml
marks elsewhere.

Scalars follow YAML 1.2 rather than PyYAML's YAML 1.1 defaults: only `true`/`false`
are booleans (`level: off` stays the string "off", as in editors that validate against
our JSON Schema) and dates stay strings (`rev: 2024-01-01` is a git revision, not a date).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic.alias_generators import to_camel
from yaml.reader import Reader, ReaderError

from ftctl.errors import Diagnostic, Severity

FieldPath = tuple[str | int, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Nesting deeper than any config needs; deeper files are refused with a diagnostic.
MAX_DEPTH = 50
# Values that aliases (`*name`) may repeat in one file; real configs use a handful.
MAX_ALIAS_VALUES = 10_000


class MarkedLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no implicit timestamps."""


MarkedLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
MarkedLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_FastLoader: type[yaml.CSafeLoader] | None = None
_BLOCK_SCALAR_COMMENT = re.compile(r"[|>][-+0-9]{0,2}#")
if yaml.__with_libyaml__:

    class MarkedCLoader(yaml.CSafeLoader):
        """libyaml's parser with MarkedLoader's resolvers (resolving runs in Python)."""

    MarkedCLoader.yaml_implicit_resolvers = MarkedLoader.yaml_implicit_resolvers
    _FastLoader = MarkedCLoader


@dataclass(frozen=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class NodeMarks:
    """Where a value sits: its key (None for list items and the document root) and value."""

    key: Position | None
    value: Position

    @property
    def best(self) -> Position:
        return self.key or self.value


def format_field_path(path: FieldPath) -> str:
    """`("spec", "data", "train", "sources", 0, "path")` -> `spec.data.train.sources[0].path`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class SourceMap:
    """Field paths of one YAML file mapped to the line and column where they are written."""

    file: Path
    display: str  # how diagnostics name the file (relative to the workspace when inside)
    marks: dict[FieldPath, NodeMarks] = field(
        default_factory=dict, hash=False, compare=False, repr=False
    )

    def resolve(self, field_path: FieldPath) -> FieldPath:
        """The longest prefix of `field_path` written in the file.

        Segments may be YAML keys (`baseModel`) or Python attribute names (`base_model`).
        """
        found: FieldPath = ()
        for part in field_path:
            candidates: list[str | int] = [part]
            if isinstance(part, str):
                candidates.append(to_camel(part.rstrip("_")))
            for candidate in candidates:
                if (*found, candidate) in self.marks:
                    found = (*found, candidate)
                    break
            else:
                break
        return found

    def locate(self, field_path: FieldPath) -> tuple[int, int]:
        """Line and column (1-based) of the field's key, or of the nearest written parent."""
        position = self.position(field_path)
        return position.line, position.column

    def position(self, field_path: FieldPath, *, value: bool = False) -> Position:
        """Where the key (or, with `value`, the value) of `field_path` is written.

        A field that is not written (a missing key, a default) is placed at the key of
        its nearest written parent.
        """
        found = self.resolve(field_path)
        marks = self.marks.get(found)
        if marks is None:
            return Position(1, 1)
        written = len(found) == len(field_path)
        return marks.value if value and written else marks.best

    def diagnostic(
        self,
        field_path: FieldPath,
        message: str,
        *,
        hint: str = "",
        at_value: bool = False,
        severity: Severity = "error",
    ) -> Diagnostic:
        """A diagnostic naming `field_path`, placed at its key (or value) in this file."""
        position = self.position(field_path, value=at_value)
        return Diagnostic(
            file=self.display,
            line=position.line,
            column=position.column,
            severity=severity,
            field=format_field_path(field_path),
            message=message,
            hint=hint,
        )


@dataclass(frozen=True)
class ParsedYaml:
    data: Any
    source_map: SourceMap
    diagnostics: tuple[Diagnostic, ...]


def parse_yaml(text: str, file: Path, display: str) -> ParsedYaml:
    """Parse one YAML document, keeping marks; syntax problems become diagnostics."""
    fast = _parse_fast(text, file, display)
    if fast is not None:
        return fast
    source_map = SourceMap(file=file, display=display)
    try:
        # The reader checks every character up front, so bad characters fail here.
        loader = MarkedLoader(text)
    except ReaderError as error:
        return ParsedYaml(None, source_map, (_reader_diagnostic(error, text, display),))
    try:
        root = loader.get_single_node()
        if root is None:
            return ParsedYaml(None, source_map, ())
        builder = _Builder(loader, source_map)
        source_map.marks[()] = NodeMarks(None, Position.of(root.start_mark))
        data = builder.build(root, ())
        return ParsedYaml(data, source_map, tuple(builder.diagnostics))
    except _AliasBomb as error:
        message = (
            f"YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values "
            "(aliases of aliases multiply); write the values out instead"
        )
        return ParsedYaml(None, source_map, (source_map.diagnostic(error.path, message),))
    except RecursionError:  # PyYAML's composer recurses per level of nesting
        message = f"nested too deeply to read (more than {MAX_DEPTH} levels is refused)"
        return ParsedYaml(None, source_map, (Diagnostic(display, message=message),))
    except yaml.MarkedYAMLError as error:
        diagnostic = _syntax_diagnostic(error, display)
        last_line = max(1, len(text.splitlines()))
        if diagnostic.line is not None and diagnostic.line > last_line:
            # The end of the stream sits after the final newline, on a line nobody sees.
            diagnostic = dataclasses.replace(diagnostic, line=last_line, column=1)
        return ParsedYaml(None, source_map, (diagnostic,))
    except yaml.YAMLError as error:  # reader errors (bad bytes) carry no mark
        return ParsedYaml(
            None, source_map, (Diagnostic(display, message=f"invalid YAML: {error}"),)
        )
    finally:
        loader.dispose()


def _parse_fast(text: str, file: Path, display: str) -> ParsedYaml | None:
    """`parse_yaml` through libyaml, or None (no libyaml, or a problem to report exactly)."""
    if (
        _FastLoader is None
        or "\t" in text
        or Reader.NON_PRINTABLE.search(text)
        or _BLOCK_SCALAR_COMMENT.search(text)
    ):
        return None
    source_map = SourceMap(file=file, display=display)
    loader = _FastLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return ParsedYaml(None, source_map, ())
        if _parsed_differently(root):
            return None
        builder = _Builder(loader, source_map)
        source_map.marks[()] = NodeMarks(None, Position.of(root.start_mark))
        data = builder.build(root, ())
        return ParsedYaml(data, source_map, tuple(builder.diagnostics))
    except (yaml.YAMLError, _AliasBomb, RecursionError):
        return None
    finally:
        loader.dispose()


def _parsed_differently(root: yaml.Node) -> bool:
    """True when a flow collection holds a plain scalar that is empty or has a `?`, or a
    mapping has an empty key."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, yaml.CollectionNode):
            continue
        seen.add(id(node))
        children: list[yaml.Node] = (
            [item for pair in node.value for item in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if node.flow_style and any(
            isinstance(c, yaml.ScalarNode) and not c.style and (c.value == "" or "?" in c.value)
            for c in children
        ):
            return True
        if isinstance(node, yaml.MappingNode) and any(
            isinstance(k, yaml.ScalarNode) and not k.style and k.value == "" for k, _ in node.value
        ):
            return True
        stack.extend(children)
    return False


def _reader_diagnostic(error: ReaderError, text: str, display: str) -> Diagnostic:
    """A character YAML does not allow (NUL, most control characters), at its place."""
    line, column = text_position(text, error.position)
    code = error.character if isinstance(error.character, int) else ord(error.character)
    shown = f"U+{code:04X}"
    return Diagnostic(
        file=display,
        line=line,
        column=column,
        message=f"character {shown} is not allowed in YAML (is this a text file?)",
    )


def text_position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index` of `text`."""
    before = text[:index]
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, index - line_start + 1


def _syntax_diagnostic(error: yaml.MarkedYAMLError, display: str) -> Diagnostic:
    problem = error.problem or "invalid YAML"
    mark = error.problem_mark or error.context_mark
    message = f"YAML syntax error: {problem}"
    if error.context and problem.startswith("but "):
        # PyYAML's "expected X" is then the context: "expected X, but found Y" reads right.
        where = f" (line {error.context_mark.line + 1})" if error.context_mark else ""
        message = f"YAML syntax error: {error.context}{where}, {problem}"
    elif error.context:
        message += f" {error.context}"
        if error.context_mark:
            message += f" started on line {error.context_mark.line + 1}"
            # Running off the end of the file: where the unclosed thing began is what helps.
            if "end of stream" in problem or "<stream end>" in problem:
                mark = error.context_mark
    return Diagnostic(
        file=display,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        message=message,
    )


class _AliasBomb(Exception):
    def __init__(self, path: FieldPath) -> None:
        super().__init__("too many values from aliases")
        # Where the expansion began, up to its key: an alias node shares its anchor's
        # marks, so a list item would be placed at the anchor, not at the alias.
        while path and isinstance(path[-1], int):
            path = path[:-1]
        self.path = path


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording marks on the way."""

    def __init__(self, loader: yaml.SafeLoader | yaml.CSafeLoader, source_map: SourceMap) -> None:
        self.loader = loader
        self.source_map = source_map
        self.diagnostics: list[Diagnostic] = []
        self._active: set[int] = set()  # nodes being built: catches recursive aliases
        self._built: set[int] = set()  # nodes built once: building one again is an alias
        self._alias_depth = 0
        self._alias_values = 0
        self._alias_root: FieldPath = ()

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        if len(path) > MAX_DEPTH:  # before Python's own recursion limit is hit
            self._error(
                path[:MAX_DEPTH], f"nested more than {MAX_DEPTH} levels deep", node.start_mark
            )
            return None
        if id(node) in self._active:
            self._error(path, "recursive YAML alias", node.start_mark)
            return None
        self._active.add(id(node))
        repeated = id(node) in self._built
        self._built.add(id(node))
        if repeated and not self._alias_depth:
            self._alias_root = path
        self._alias_depth += repeated
        try:
            if self._alias_depth:
                self._count_alias_value()
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self.source_map.marks[(*path, index)] = NodeMarks(
                        None, Position.of(item.start_mark)
                    )
                    items.append(self.build(item, (*path, index)))
                return items
            return self.loader.construct_object(node, deep=True)
        finally:
            self._active.discard(id(node))
            self._alias_depth -= repeated

    def _count_alias_value(self) -> None:
        """Aliases of aliases multiply (a "billion laughs" file is a few lines): stop
        before such a file takes minutes and gigabytes to build."""
        self._alias_values += 1
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _AliasBomb(self._alias_root)

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[Any, Any]:
        own_keys = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[Any, Any] = {}
        own_seen: dict[Any, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(path, "mapping keys must be plain scalars", key_node.start_mark)
                continue
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            is_own = id(key_node) in own_keys
            if is_own and key in own_seen:
                first = own_seen[key]
                self._error(
                    (*path, key),
                    f"duplicate key '{key}' (first defined on line {first.line + 1})",
                    key_node.start_mark,
                )
                continue
            if key in result and not is_own:
                continue  # an earlier merge, or the mapping itself, takes precedence
            if is_own:
                own_seen[key] = key_node.start_mark
            child = (*path, key)
            self.source_map.marks[child] = NodeMarks(
                Position.of(key_node.start_mark), Position.of(value_node.start_mark)
            )
            result[key] = self.build(value_node, child)
        return result

    def _error(self, path: FieldPath, message: str, mark: yaml.Mark) -> None:
        self.diagnostics.append(
            Diagnostic(
                file=self.source_map.display,
                line=mark.line + 1,
                column=mark.column + 1,
                field=format_field_path(path),
                message=message,
            )
        )
