"""Response parameters every ES route honours: `filter_path` and `pretty`.

Applied to this service's own JSON answers; forwarded answers are shaped by Elasticsearch. As in
Elasticsearch, an error answer is never filtered (a client needs the whole envelope), and
`pretty` applies to every answer.

`filter_path` is compiled once per request into a tree of its patterns (ES's FilterPath), so a
key is matched by one dictionary lookup plus its wildcard patterns, not against every pattern.
Its size is bounded before the request runs, and the work of applying it to an answer is
bounded by the answer's size: past either bound the request is a 400, about as cheap as the
unfiltered answer.
"""

import json
import re

from flask import Flask, Response, g, request

from app.exceptions import BadRequest
from app.urls import is_service_path

# The most a filter_path may hold. Elasticsearch reads it from a request line of at most 4 KB
# (http.max_initial_line_length), so none of its callers sends more.
MAX_FILTER_PATH_BYTES = 4096
MAX_FILTER_PATTERNS = 128
MAX_WILDCARD_SEGMENTS = 32
# Matching steps allowed per value of the answer, plus a fixed allowance: a plain filter takes
# one or two per value.
WORK_PER_VALUE = 8
WORK_ALLOWANCE = 10_000

_MISSING = object()


class FilterPathRefused(BadRequest):
    pass


class _Node:
    """One position in the patterns: children by exact key, by wildcard, and after `**`."""

    __slots__ = ("exact", "wild", "deep", "end")

    def __init__(self):
        self.exact: dict[str, _Node] = {}
        self.wild: list[tuple[re.Pattern, _Node]] = []
        self.deep: _Node | None = None
        self.end = False

    def child(self, segment: str) -> "_Node":
        if segment == "**":
            self.deep = self.deep or _Node()
            return self.deep
        if "*" not in segment:
            return self.exact.setdefault(segment, _Node())
        # Only `*` is special, as in ES's Glob: `?` and `[` match themselves.
        pattern = re.compile(".*".join(re.escape(part) for part in segment.split("*")), re.S)
        for known, node in self.wild:
            if known.pattern == pattern.pattern:
                return node
        node = _Node()
        self.wild.append((pattern, node))
        return node


class FilterPath:
    """A compiled `filter_path`: include patterns, and exclude patterns (leading `-`)."""

    def __init__(self, spec: str):
        if len(spec.encode("utf-8", "surrogatepass")) > MAX_FILTER_PATH_BYTES:
            raise FilterPathRefused(
                f"filter_path is longer than [{MAX_FILTER_PATH_BYTES}] bytes")
        patterns = [part.strip() for part in spec.split(",") if part.strip()]
        if len(patterns) > MAX_FILTER_PATTERNS:
            raise FilterPathRefused(f"filter_path has [{len(patterns)}] patterns, more than the "
                                    f"[{MAX_FILTER_PATTERNS}] allowed")
        wildcards = sum(1 for pattern in patterns for segment in pattern.lstrip("-").split(".")
                        if "*" in segment and segment != "**")
        if wildcards > MAX_WILDCARD_SEGMENTS:
            raise FilterPathRefused(f"filter_path has [{wildcards}] wildcard segments, more than "
                                    f"the [{MAX_WILDCARD_SEGMENTS}] allowed")
        roots: dict[bool, _Node] = {}  # by whether the pattern excludes
        for pattern in patterns:
            node = roots.setdefault(pattern.startswith("-"), _Node())
            for segment in pattern.lstrip("-").split("."):
                node = node.child(segment)
            node.end = True
        self.includes, self.excludes = roots.get(False), roots.get(True)
        self.spec = spec
        self.budget = 0

    def apply(self, data):
        self.budget = WORK_ALLOWANCE
        if self.includes is not None:
            data = self._include(data, _expand([self.includes]))
            if data is _MISSING:
                return {}
        if self.excludes is not None:
            data = self._exclude(data, _expand([self.excludes]))
        return {} if data is _MISSING else data

    def _step(self, nodes: list[_Node], key: str) -> list[_Node]:
        """The positions after matching `key` from `nodes` (already expanded)."""
        following, cost, deep = [], len(nodes), False
        for node in nodes:
            found = node.exact.get(key)
            if found is not None:
                following.append(found)
                deep = deep or found.deep is not None
            if node.wild:
                cost += len(node.wild)
                for pattern, child in node.wild:
                    if pattern.fullmatch(key):
                        following.append(child)
                        deep = True  # (rare) let _expand sort out its `**` and duplicates
            if node.deep is not None:
                following.append(node)  # `**` goes on matching one more level
                deep = True
        self.budget += WORK_PER_VALUE - cost
        if self.budget < 0:
            raise FilterPathRefused(f"filter_path [{self.spec}] is too costly to apply to this "
                                    "answer: use fewer or simpler patterns")
        return _expand(following) if deep else following

    def _include(self, value, nodes: list[_Node]):
        if any(node.end for node in nodes):
            return value
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                following = self._step(nodes, key)
                if following:
                    filtered = self._include(item, following)
                    if filtered is not _MISSING:
                        kept[key] = filtered
            return kept or _MISSING
        if isinstance(value, list):
            kept = []  # plain loops: a document may be nested 1000 deep (no C stack per level)
            for item in value:
                filtered = self._include(item, nodes)
                if filtered is not _MISSING:
                    kept.append(filtered)
            return kept or _MISSING
        return _MISSING

    def _exclude(self, value, nodes: list[_Node]):
        if any(node.end for node in nodes):
            return _MISSING
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                following = self._step(nodes, key)
                filtered = self._exclude(item, following) if following else item
                if filtered is not _MISSING:
                    kept[key] = filtered
            return kept
        if isinstance(value, list):
            kept = []
            for item in value:
                filtered = self._exclude(item, nodes)
                if filtered is not _MISSING:
                    kept.append(filtered)
            return kept
        return value


def _expand(nodes: list[_Node]) -> list[_Node]:
    """`nodes` with what `**` reaches by matching no level at all; each node once."""
    seen, result = set(), []
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        result.append(node)
        if node.deep is not None:
            pending.append(node.deep)
    return result


def filter_path(data, spec: str):
    """ES's filter_path: comma-separated dotted paths with `*` (within a key) and `**` (any
    depth); a leading `-` excludes. Arrays are crossed transparently."""
    return FilterPath(spec).apply(data)


def register_response_shaping(app: Flask) -> None:
    @app.before_request
    def compile_filter_path() -> None:
        """Refuses a filter_path past its bounds before the request does anything."""
        wanted = request.args.get("filter_path")
        if wanted is not None and is_service_path(request.path):  # else Elasticsearch's to read
            g.filter_path = FilterPath(wanted)

    @app.after_request
    def shape(response: Response) -> Response:
        compiled = g.get("filter_path")
        pretty = "pretty" in request.args
        if response.status_code >= 400:
            compiled = None  # errors keep their whole envelope, as in Elasticsearch
        if (compiled is None and not pretty) or response.mimetype != "application/json" \
                or response.is_streamed:
            return response
        data = response.get_json(silent=True)
        if data is None:
            return response
        if compiled is not None:
            try:
                data = compiled.apply(data)
            except FilterPathRefused as refused:
                response.status_code = refused.status
                data = refused.to_envelope()
        text = json.dumps(data, indent=2 if pretty else None, ensure_ascii=False)
        response.set_data(text + ("\n" if pretty else ""))
        return response
