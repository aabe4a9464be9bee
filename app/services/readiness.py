"""Whether the service can do its work: Elasticsearch answers, the templates are installed and
the indices are usable. Each check is named, so more (such as each node's answer) fit beside."""

from app.exceptions import StorageUnavailable
from app.storage import IndexLayoutConflict, Storage


def check(store: Storage) -> dict:
    """`{"ready": bool, "checks": {name: {"ok": bool, "reason"?: str}}}`."""
    reachable = store.cluster.ping()
    checks = {"elasticsearch": {"ok": reachable}}
    if not reachable:
        checks["elasticsearch"]["reason"] = "Elasticsearch does not answer"
        checks["index_templates"] = {"ok": False, "reason": "not checked: Elasticsearch does not answer"}
        checks["indices"] = {"ok": False, "reason": "not checked: Elasticsearch does not answer"}
        return {"ready": False, "checks": checks}
    try:
        installed = store.layout.templates_installed()
        checks["index_templates"] = {"ok": installed}
        if installed:
            store.ensure_ready()
        else:
            checks["index_templates"]["reason"] = "the index templates are not installed (yet)"
            # Ours to put back (deleted by someone, or not installed yet): the next probe is ready.
            store.layout.reinstall()
        checks["indices"] = {"ok": True}
    except StorageUnavailable as err:
        checks.setdefault("index_templates", {"ok": False, "reason": err.reason})
        checks["indices"] = {"ok": False, "reason": err.reason}
    except IndexLayoutConflict as conflict:
        checks["indices"] = {"ok": False, "reason": conflict.reason}
    return {"ready": all(item["ok"] for item in checks.values()), "checks": checks}
