"""YAML loading that remembers the line of every key, so config errors can point at it.

Bounded against hostile files: nesting deeper than MAX_DEPTH is refused while parsing (before
Python's recursion limit could be reached), and the data built from aliases is counted, so a
"billion laughs" file is refused after MAX_NODES values instead of filling memory. Merge keys
(``<<: *base``) work; any tag beyond the plain YAML types is an error naming its line.
"""

from __future__ import annotations

from typing import Any

import yaml

KeyPath = tuple[str | int, ...]

MAX_DEPTH = 64  # a config is 3-4 levels deep
MAX_NODES = 10_000  # nodes parsed, and values built; a config has a few hundred

_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in
                ("str", "int", "float", "bool", "null", "timestamp")}


class YamlError(Exception):
    def __init__(self, message: str, line: int | None, path: KeyPath = ()) -> None:
        super().__init__(message)
        self.line = line
        self.path = path  # the key whose value is wrong, when known


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _BoundedLoader(yaml.SafeLoader):
    """Scans and composes like SafeLoader, refusing nesting deeper than MAX_DEPTH as early
    as the scanner: PyYAML looks ahead over every open '[' for a possible key, which is
    quadratic in the nesting depth, and composes recursively."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _too_deep(self) -> YamlError:
        return YamlError(f"nested more than {MAX_DEPTH} levels deep", self.line + 1)

    def fetch_flow_collection_start(self, token_class: Any) -> None:  # '[' or '{'
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise self._too_deep()
        return bool(super().add_indent(column))

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1  # pure-Python PyYAML takes ~30 us a node: bound the time, too
        try:
            if self._depth > MAX_DEPTH:
                raise self._too_deep()
            if self._nodes > MAX_NODES:
                raise YamlError(f"has more than {MAX_NODES} values", self.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_with_lines(text: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text; return the data and a map from key path to 1-based line number.

    Raises only YamlError."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlError(f"YAML syntax error: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}", None) from None
    except RecursionError:
        raise YamlError(f"nested too deeply (more than {MAX_DEPTH} levels)", None) from None
    finally:
        loader.dispose()
    if node is None:
        return {}, {}
    lines: dict[KeyPath, int] = {(): _line(node)}
    data = _Builder(lines).build(node, (), 0)
    return data, lines


class _Builder:
    def __init__(self, lines: dict[KeyPath, int]) -> None:
        self.lines = lines
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def _count(self, node: yaml.Node, path: KeyPath, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlError(f"expands to more than {MAX_NODES} values (aliases repeated "
                            "inside aliases?)", _line(node), path)
        if depth > MAX_DEPTH:  # aliases (and merges) can nest what the text does not
            raise YamlError(f"nested more than {MAX_DEPTH} levels deep", _line(node), path)

    def build(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self._count(node, path, depth)
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, {_MAP}, path)
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, {_SEQ}, path)
            items = []
            for i, item in enumerate(node.value):
                child = (*path, i)
                self.lines[child] = _line(item)
                items.append(self.build(item, child, depth + 1))
            return items
        return self._scalar(node, path)

    def _check_tag(self, node: yaml.Node, allowed: set[str], path: KeyPath) -> None:
        if node.tag not in allowed:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlError(f"unsupported tag '{tag}' (only plain YAML values are allowed)",
                            _line(node), path)

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        self._check_tag(node, _SCALAR_TAGS, path)
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise YamlError(f"bad value {str(node.value)[:40]!r} ({exc})",
                            _line(node), path) from None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("a key must be a plain value, not a list or mapping",
                                _line(key_node), path)
            key = self._scalar(key_node, path)
            if key in out:
                raise YamlError(f"duplicate key '{key}'", _line(key_node), (*path, key))
            child = (*path, key)
            self.lines[child] = _line(key_node)
            out[key] = self.build(value_node, child, depth + 1)
        # explicit keys win over merged ones (YAML merge-key semantics)
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def _merge(self, value: yaml.Node, path: KeyPath, depth: int) -> dict[Any, Any]:
        """``<<: *a`` or ``<<: [*a, *b]`` (earlier mappings win)."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        out: dict[Any, Any] = {}
        for src in reversed(sources):
            if not isinstance(src, yaml.MappingNode):
                raise YamlError("a merge key '<<' needs a mapping or a list of mappings",
                                _line(src), path)
            self._count(src, path, depth + 1)
            out.update(self._mapping(src, path, depth + 1))
        return out


def line_for(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
