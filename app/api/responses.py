"""Response parameters every ES route honours: `filter_path` and `pretty`.

Applied to this service's own JSON answers; forwarded answers are shaped by Elasticsearch.
"""

import json
from fnmatch import fnmatchcase

from flask import Flask, Response, request

_MISSING = object()


def filter_path(data, spec: str):
    """ES's filter_path: comma-separated dotted paths with `*` (one level) and `**` (any
    depth); a leading `-` excludes. Arrays are crossed transparently."""
    paths = [part.strip() for part in spec.split(",") if part.strip()]
    includes = [path.split(".") for path in paths if not path.startswith("-")]
    excludes = [path[1:].split(".") for path in paths if path.startswith("-")]
    if includes:
        data = _include(data, includes)
        if data is _MISSING:
            return {}
    if excludes:
        data = _exclude(data, excludes)
    return {} if data is _MISSING else data


def _advance(key: str, paths: list[list[str]]) -> list[list[str]]:
    """The rest of each path after matching `key`; `**` may match none or many levels."""
    rest = []
    for path in paths:
        head = path[0]
        if head == "**":
            rest.append(path)
            if len(path) > 1 and fnmatchcase(key, path[1]):
                rest.append(path[2:])
        elif fnmatchcase(key, head):
            rest.append(path[1:])
    return rest


def _include(node, paths):
    if any(not path for path in paths):
        return node
    if isinstance(node, list):
        kept = [item for item in (_include(item, paths) for item in node) if item is not _MISSING]
        return kept or _MISSING
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            rest = _advance(key, paths)
            if rest:
                filtered = _include(value, rest)
                if filtered is not _MISSING:
                    kept[key] = filtered
        return kept or _MISSING
    return _MISSING


def _exclude(node, paths):
    if any(not path for path in paths):
        return _MISSING
    if isinstance(node, list):
        return [item for item in (_exclude(item, paths) for item in node) if item is not _MISSING]
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            rest = _advance(key, paths)
            filtered = _exclude(value, rest) if rest else value
            if filtered is not _MISSING:
                kept[key] = filtered
        return kept
    return node


def register_response_shaping(app: Flask) -> None:
    @app.after_request
    def shape(response: Response) -> Response:
        wanted = request.args.get("filter_path")
        pretty = "pretty" in request.args
        if (wanted is None and not pretty) or response.mimetype != "application/json" \
                or response.is_streamed:
            return response
        data = response.get_json(silent=True)
        if data is None:
            return response
        if wanted is not None:
            data = filter_path(data, wanted)
        text = json.dumps(data, indent=2 if pretty else None, ensure_ascii=False)
        response.set_data(text + ("\n" if pretty else ""))
        return response
