"""What the package, the image and the compose file say of each other: one version of the
service, one default Elasticsearch release, and the templates the package carries."""

import re
from importlib.metadata import version

from app.storage.layout import TEMPLATES_DIR
from app.testing import DEFAULT_ELASTICSEARCH_VERSION, default_service_image
from tests.support.nodes import REPO_ROOT


def env_file_version() -> str:
    return re.search(r"^ES_VERSION=(\S+)$", (REPO_ROOT / ".env").read_text(), re.MULTILINE).group(1)


def test_the_testing_helper_starts_the_release_the_project_is_tested_against():
    assert DEFAULT_ELASTICSEARCH_VERSION == env_file_version()


def test_compose_builds_the_image_the_testing_helper_starts(monkeypatch):
    monkeypatch.delenv("CONNECTOR_SYNC_JOBS_IMAGE", raising=False)
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    assert f"image: ${{SERVICE_IMAGE:-{default_service_image()}}}" in compose
    assert default_service_image() == f"connector-sync-jobs:{version('connector-sync-jobs')}"


def test_the_image_labels_itself_with_the_package_version():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"ARG VERSION={version('connector-sync-jobs')}\n" in dockerfile


def test_the_package_carries_the_index_templates_of_the_checkout():
    shipped = {path.name: path.read_bytes() for path in TEMPLATES_DIR.glob("*.json")}
    checked_in = {path.name: path.read_bytes() for path in (REPO_ROOT / "index_templates").glob("*.json")}
    assert shipped == checked_in and len(shipped) == 5
