"""A lineage as a diagram: Mermaid (renders in GitHub Markdown) or Graphviz DOT.

Nodes are the version's model and every ancestor model down to the provider's base
model, the data each was trained on (by hash), the commit it was built from and the
aliases that point at it; edges read "was made from". Output is deterministic (same
lineage, same text), so diagrams can be committed and diffed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftctl.lineage.graph import Lineage, VersionLineage


@dataclass
class _Graph:
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (label, kind)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, label)
    _ids: dict[str, str] = field(default_factory=dict)  # key (what a node is) -> id

    def node(self, key: str, label: str, kind: str) -> str:
        if key not in self._ids:
            self._ids[key] = f"n{len(self.nodes)}"
            self.nodes[self._ids[key]] = (label, kind)
        return self._ids[key]

    def edge(self, source: str, target: str, label: str) -> None:
        if (source, target, label) not in self.edges:
            self.edges.append((source, target, label))


def _graph(lineage: Lineage) -> _Graph:
    g = _Graph()
    top = _add_version(g, lineage.version)
    if lineage.alias:
        alias = g.node(
            f"alias:{lineage.alias}", f"alias {lineage.project}/{lineage.alias}", "alias"
        )
        g.edge(alias, top, "points at")
    return g


def _add_version(g: _Graph, v: VersionLineage) -> str:
    label = f"{v.address}\\n{v.model_id or '(no model yet)'}"
    me = g.node(f"version:{v.address}", label, "version")
    if v.parent is not None:
        parent = _add_version(g, v.parent)
        g.edge(me, parent, "fine-tuned from")
    else:
        base = g.node(f"model:{v.base_model}", f"base model\\n{v.base_model}", "base")
        g.edge(me, base, "fine-tuned from")
    for d in v.datasets:
        data = g.node(f"data:{d.sha256}", f"{d.split} data\\nsha256:{d.sha256[:12]}", "data")
        g.edge(me, data, f"trained on ({d.split})" if d.split != "train" else "trained on")
    if v.git_commit:
        commit = g.node(f"commit:{v.git_commit}", f"commit {v.git_commit[:12]}", "commit")
        g.edge(me, commit, "built from")
    return me


_MERMAID_SHAPES = {
    "version": ('["', '"]'),
    "base": ('[("', '")]'),
    "data": ('[/"', '"/]'),
    "commit": ('{{"', '"}}'),
    "alias": ('(["', '"])'),
}


def to_mermaid(lineage: Lineage) -> str:
    """A Mermaid flowchart (paste into Markdown inside a ```mermaid block)."""
    g = _graph(lineage)
    lines = ["flowchart TD"]
    for node_id, (label, kind) in g.nodes.items():
        left, right = _MERMAID_SHAPES[kind]
        text = label.replace('"', "#quot;").replace("\\n", "<br/>")
        lines.append(f"    {node_id}{left}{text}{right}")
    for source, target, label in g.edges:
        lines.append(f"    {source} -->|{label}| {target}")
    return "\n".join(lines) + "\n"


_DOT_SHAPES = {
    "version": "box",
    "base": "cylinder",
    "data": "note",
    "commit": "hexagon",
    "alias": "oval",
}


def to_dot(lineage: Lineage) -> str:
    """A Graphviz digraph (`dot -Tsvg`)."""
    g = _graph(lineage)
    lines = [f"digraph {_quote('lineage ' + lineage.project)} {{", "    rankdir=TB;"]
    for node_id, (label, kind) in g.nodes.items():
        lines.append(f"    {node_id} [shape={_DOT_SHAPES[kind]}, label={_quote(label)}];")
    for source, target, label in g.edges:
        lines.append(f"    {source} -> {target} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    # `\n` inside labels is DOT's own line break: keep it, escape quotes only.
    return '"' + text.replace('"', '\\"') + '"'
