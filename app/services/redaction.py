"""Keeping secrets out of responses: configuration entries marked `"sensitive": true` answer
with a placeholder instead of their value. Stored documents keep the real values (workers
read them from the index); the reference returns them (its code carries a TODO about it)."""

REDACTED = "<redacted>"


def redact_configuration(configuration):
    if not isinstance(configuration, dict):
        return configuration
    return {key: ({**entry, "value": REDACTED}
                  if isinstance(entry, dict) and entry.get("sensitive") is True
                  and entry.get("value") not in (None, "") else entry)
            for key, entry in configuration.items()}


def redact_connector(connector: dict) -> dict:
    if "configuration" not in connector:
        return connector
    return {**connector, "configuration": redact_configuration(connector["configuration"])}


def redact_job(job: dict) -> dict:
    snapshot = job.get("connector")
    if not isinstance(snapshot, dict):
        return job
    return {**job, "connector": redact_connector(snapshot)}
