"""A partial update's result, computed as Elasticsearch computes it."""


def merged(source: dict, partial: dict) -> dict:
    """`source` after a partial update with `partial`, merged as Elasticsearch merges it:
    objects key by key, anything else replaced."""
    result = dict(source)
    for key, value in partial.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result
