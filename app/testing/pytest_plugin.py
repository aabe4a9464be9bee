"""pytest fixtures for projects whose integration tests need the service: registered as the
pytest plugin `connector_sync_jobs` wherever the package is installed, usable once its
`testing` extra is (README "Use it in your integration tests").

- `connector_sync_jobs`: a `ConnectorSyncJobsContainer` in front of an Elasticsearch container
  of its own, started once per test session and removed after it.
- `connector_sync_jobs_client`: the official Elasticsearch client pointed at it.

CONNECTOR_SYNC_JOBS_IMAGE and CONNECTOR_SYNC_JOBS_ELASTICSEARCH_IMAGE name other images.
"""

import pytest


@pytest.fixture(scope="session")
def connector_sync_jobs():
    # Imported here, not above: pytest loads this plugin wherever the package is installed,
    # also without the `testing` extra, and must keep working there.
    try:
        from app.testing import ConnectorSyncJobsContainer, ContainerStartError
    except ImportError as err:
        pytest.fail(f"the connector_sync_jobs fixture needs the testing extra: pip install "
                    f"'connector-sync-jobs[testing]' ({err})", pytrace=False)
    try:
        service = ConnectorSyncJobsContainer().start()
    except ContainerStartError as err:  # said in its own words, without a traceback
        pytest.fail(str(err), pytrace=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def connector_sync_jobs_client(connector_sync_jobs):
    client = connector_sync_jobs.get_client()
    yield client
    client.close()
