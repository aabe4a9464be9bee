"""The versions a process remembers to skip a read before a guarded write (pure parts)."""

from app.domain.partial_update import merged
from app.storage import RecentVersions, StoredDoc


def doc(doc_id: str, seq_no: int = 0) -> StoredDoc:
    return StoredDoc(doc_id, {"status": "pending"}, seq_no, 1)


def test_remembers_the_latest_version_of_each_document():
    recent = RecentVersions()
    recent.remember("jobs", doc("a", 0))
    recent.remember("jobs", doc("a", 3))
    assert recent.get("jobs", "a").seq_no == 3
    assert recent.get("connectors", "a") is None


def test_forgets_the_least_recently_used_past_its_size():
    recent = RecentVersions(maxsize=2)
    recent.remember("jobs", doc("a"))
    recent.remember("jobs", doc("b"))
    recent.get("jobs", "a")
    recent.remember("jobs", doc("c"))
    assert recent.get("jobs", "b") is None
    assert recent.get("jobs", "a") is not None and recent.get("jobs", "c") is not None


def test_forget():
    recent = RecentVersions()
    recent.remember("jobs", doc("a"))
    recent.forget("jobs", "a")
    assert recent.get("jobs", "a") is None


def test_merged_as_elasticsearch_merges_a_partial_document():
    source = {"status": "pending", "connector": {"id": "c", "filtering": {"rules": [1]}},
              "metadata": {"a": 1}, "tags": [1, 2]}
    partial = {"status": "in_progress", "connector": {"sync_cursor": {"p": 1}},
               "metadata": {"b": 2}, "tags": [3]}
    assert merged(source, partial) == {
        "status": "in_progress",
        "connector": {"id": "c", "filtering": {"rules": [1]}, "sync_cursor": {"p": 1}},
        "metadata": {"a": 1, "b": 2}, "tags": [3]}
    assert source["connector"] == {"id": "c", "filtering": {"rules": [1]}}
