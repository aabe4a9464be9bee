"""Error handlers that answer every failure in Elasticsearch's error envelope."""

import logging

from flask import Flask, g, has_request_context, jsonify
from werkzeug.exceptions import HTTPException

from app.exceptions import RestError, StorageUnavailable

log = logging.getLogger(__name__)

# Werkzeug's HTTP errors and the ES error type each becomes.
HTTP_ERROR_TYPES = {
    400: "parse_exception",
    404: "resource_not_found_exception",
    405: "method_not_allowed_exception",
    413: "request_entity_too_large_exception",
    415: "media_type_header_exception",
}


def error_response(error: RestError):
    if has_request_context():
        g.error = (error.error_type, error.reason)  # named in the request's log line and metrics
    response = jsonify(error.to_envelope())
    response.status_code = error.status
    return response


def register_error_handlers(app: Flask) -> None:
    """Registered on the app, not a blueprint, so routing 404s and 405s are covered too."""

    @app.errorhandler(RestError)
    def handle_rest_error(error: RestError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        status = error.code or 500
        reason = error.description or error.name
        if status == 404:
            reason = "no handler found for uri and method"
        response = error_response(RestError(
            reason, status=status, error_type=HTTP_ERROR_TYPES.get(status, "exception")))
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ",".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if _is_connection_failure(error):
            return error_response(StorageUnavailable())
        log.exception("unhandled error")
        return error_response(RestError("internal server error"))


def _is_connection_failure(error: Exception) -> bool:
    import elasticsearch

    return isinstance(error, (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout))
