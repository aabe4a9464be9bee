"""Client errors translated into the service's exceptions, in this one place."""

from collections.abc import Iterator
from contextlib import contextmanager

import elasticsearch

from app.exceptions import Conflict, RestError, StorageUnavailable
from app.storage.nodes import AnswerLost


class VersionConflict(Conflict):
    """The document changed since it was read: re-read and re-check before writing again."""


class DocumentMissing(Exception):
    """The document disappeared between a read and a write."""


class IndexMissing(Exception):
    pass


class OutcomeUnknown(StorageUnavailable):
    """A write went out and its answer was lost with its node: it may or may not have landed."""


class IndexLayoutConflict(RestError):
    """The cluster holds our index names in a shape the service cannot safely write to."""

    status = 500
    error_type = "illegal_state_exception"


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turns client errors into the service's exceptions."""
    try:
        yield
    except elasticsearch.ConflictError as err:
        raise VersionConflict(error_reason(err), error_type=error_type(err)) from err
    except elasticsearch.NotFoundError as err:
        if error_type(err) == "index_not_found_exception":
            raise IndexMissing(error_reason(err)) from err
        raise DocumentMissing(error_reason(err)) from err
    except AnswerLost as err:
        raise OutcomeUnknown("Elasticsearch is unavailable: the node handling the write stopped "
                             "answering; the write may or may not have been applied") from err
    except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as err:
        raise StorageUnavailable(f"Elasticsearch is unavailable: {type(err).__name__}") from err
    except elasticsearch.ApiError as err:
        if err.meta.status in (502, 503, 504):
            raise StorageUnavailable(
                f"Elasticsearch answered {err.meta.status}: {error_reason(err)}") from err
        raise RestError(error_reason(err), error_type=error_type(err),
                        status=err.meta.status) from err


def _error_body(err: elasticsearch.ApiError) -> dict:
    body = err.body if isinstance(err.body, dict) else {}
    return body.get("error") if isinstance(body.get("error"), dict) else {}


def error_type(err: elasticsearch.ApiError) -> str:
    return _error_body(err).get("type", "exception")


def error_reason(err: elasticsearch.ApiError) -> str:
    return _error_body(err).get("reason") or str(err.message)
