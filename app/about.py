"""The service's name and version, as its answers, logs and API description give them."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "connector-sync-jobs"


def service_version() -> str:
    try:
        return version(SERVICE_NAME)
    except PackageNotFoundError:
        return "0+unknown"
