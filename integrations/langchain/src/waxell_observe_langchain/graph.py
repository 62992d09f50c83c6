"""LangGraph runs as LangChain reports them: which chain run is a graph node.

LangGraph runs every node of a graph as a LangChain run tagged ``graph:step:N`` whose metadata
names it (``langgraph_node``) with the super-step it ran in (``langgraph_step``). Runs inside a
node (a conditional edge's function, the runnables a node is made of, a subgraph) carry the
node's metadata too but are not the node. A node becomes a ``chain`` span with ``langgraph.node``
and ``langgraph.step`` attributes and a step; a run inside a node becomes a span and no step, so
a run's steps are the graph's nodes in the order they ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["GraphRole", "graph_role"]

NODE_TAG = "graph:step:"


class GraphRole:
    """What a chain run is in a LangGraph graph: ``node`` (its name, "" when it is not a node),
    ``step`` (the super-step) and ``inner`` (True for a run inside a node)."""

    __slots__ = ("inner", "node", "step")

    def __init__(self, node: str = "", step: int = 0, inner: bool = False) -> None:
        self.node = node
        self.step = step
        self.inner = inner


NOT_IN_A_GRAPH = GraphRole()


def graph_role(name: str, tags: list[str] | None, metadata: Mapping[str, Any] | None) -> GraphRole:
    """The role of a chain run named ``name`` with these ``tags`` and ``metadata``."""
    if not metadata:
        return NOT_IN_A_GRAPH
    node = metadata.get("langgraph_node")
    if not isinstance(node, str) or not node:
        return NOT_IN_A_GRAPH
    step = metadata.get("langgraph_step")
    step = step if isinstance(step, int) and not isinstance(step, bool) else 0
    if node == name and tags and any(tag.startswith(NODE_TAG) for tag in tags):
        return GraphRole(node, step)
    return GraphRole(node, step, inner=True)
