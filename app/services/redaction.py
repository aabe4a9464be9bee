"""Keeping secrets out of responses, and the placeholder out of storage.

Configuration entries marked `"sensitive": true` answer with a placeholder instead of their
`value` and `default_value`. Stored documents keep the real values (workers read them from the
index); the reference returns them (its code carries a TODO about it).

Callers send what they read back: Kibana's configuration form sends every field's value with
`PUT _connector/<id>/_configuration {"values": ...}`, and a script may write the whole map back
with `{"configuration": ...}`. So the placeholder is never stored: where it stands for a value
the connector holds, that value is kept; where nothing is held for it, the write is refused.
"""

from app.exceptions import BadRequest

REDACTED = "<redacted>"
SECRET_KEYS = ("value", "default_value")


def redact_configuration(configuration):
    if not isinstance(configuration, dict):
        return configuration
    return {key: _redacted(entry) for key, entry in configuration.items()}


def _redacted(entry):
    if not isinstance(entry, dict) or entry.get("sensitive") is not True:
        return entry
    return {**entry, **{key: REDACTED for key in SECRET_KEYS
                        if entry.get(key) not in (None, "")}}


def redact_connector(connector: dict) -> dict:
    if "configuration" not in connector:
        return connector
    return {**connector, "configuration": redact_configuration(connector["configuration"])}


def redact_job(job: dict) -> dict:
    snapshot = job.get("connector")
    if not isinstance(snapshot, dict):
        return job
    return {**job, "connector": redact_connector(snapshot)}


class PlaceholderNotStorable(BadRequest):
    def __init__(self, field: str):
        super().__init__(
            f"[{field}] is the placeholder [{REDACTED}] that this service answers in place of a "
            "secret, and the connector holds no value for it to keep: send the value itself.")


def without_placeholders(values: dict, stored: dict) -> dict:
    """`_configuration {"values"}`: the values to write. A placeholder leaves the stored value
    as it is (it is left out of the write)."""
    kept = {}
    for key, value in values.items():
        if value != REDACTED:
            kept[key] = value
        elif _held(stored.get(key), "value") is None:
            raise PlaceholderNotStorable(f"values.{key}")
    return kept


def with_stored_secrets(configuration: dict, stored: dict) -> dict:
    """`_configuration {"configuration"}`: the map to write, each placeholder replaced by the
    value the stored entry of the same name holds."""
    restored = {}
    for key, entry in configuration.items():
        entry = dict(entry)
        for secret in SECRET_KEYS:
            if entry.get(secret) == REDACTED:
                held = _held(stored.get(key), secret)
                if held is None:
                    raise PlaceholderNotStorable(f"configuration.{key}.{secret}")
                entry[secret] = held
        restored[key] = entry
    return restored


def _held(entry, key: str):
    """What a stored entry holds under `key`, if anything (the answer redacts nothing else)."""
    if not isinstance(entry, dict) or entry.get(key) in (None, "", REDACTED):
        return None
    return entry[key]
