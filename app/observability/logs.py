"""Logs in ECS JSON (Elastic's ecs-logging) or a readable console form; never a secret.

`LOG_FORMAT` picks the form: `ecs`, `console`, or unset: console on a terminal, ECS otherwise
(a container, a supervisor, a file). Every line, whatever logged it, passes through
`Redactor`: configured secrets and anything shaped like a credential are replaced before the
line is written.
"""

import json
import logging
import re
import sys
import time
from base64 import b64encode
from urllib.parse import unquote, urlsplit

import ecs_logging

from app.about import SERVICE_NAME
from app.config import Config
from app.observability import context

REDACTED = "<redacted>"
# Credentials in a text: URL userinfo, and an Authorization value after its scheme.
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"']*:[^/\s@\"']*@")
AUTHORIZATION_VALUE = re.compile(r"(?i)\b(ApiKey|Basic|Bearer)(\s+|\"?\s*:\s*\"?)[A-Za-z0-9+/=._~-]{6,}")
# A configured secret shorter than this is not searched for (it would blank common words).
MIN_SECRET_LENGTH = 3
OUR_HANDLER = "connector_service_handler"
# A record attribute holding fields already in ECS's nested form (app.observability.requests).
ECS_DOCUMENT = "ecs_document"
ECS_VERSION = "1.6.0"


def configured_secrets(settings) -> list[str]:
    """Every credential the settings hold, in the forms a log line could show it."""
    found = [settings.ELASTICSEARCH_PASSWORD, settings.ELASTICSEARCH_API_KEY,
             *settings.AUTH_API_KEYS]
    pairs = [f"{settings.ELASTICSEARCH_USERNAME}:{settings.ELASTICSEARCH_PASSWORD}",
             *settings.AUTH_BASIC_USERS]
    userinfo = urlsplit(settings.ELASTICSEARCH_URL).password
    if userinfo:
        found += [userinfo, unquote(userinfo)]
        pairs.append(f"{urlsplit(settings.ELASTICSEARCH_URL).username}:{unquote(userinfo)}")
    for pair in pairs:
        found.append(pair.partition(":")[2])
        found.append(b64encode(pair.encode()).decode())
    found += list(getattr(settings, "METRICS_BEARER_TOKENS", ()))
    return sorted({s for s in found if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def might_hold_scheme(text: str) -> bool:
    """Whether AUTHORIZATION_VALUE could match: a scheme's name in any case. Beyond ASCII the
    pattern's case-insensitive matching knows more equivalents than lower-casing does."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return "apikey" in lowered or "basic" in lowered or "bearer" in lowered


class Redactor:
    def __init__(self, secrets: list[str]):
        self.secrets = secrets

    def __call__(self, text: str) -> str:
        # Each pattern runs only on a text that holds what it needs: a regular expression over
        # a whole line costs more than the rest of a heartbeat's logging together.
        if "://" in text and "@" in text:
            text = URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
        if might_hold_scheme(text):
            text = AUTHORIZATION_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def emit(logger: logging.Logger, level: int, message: str, fields: dict) -> None:
    """`logger.log(level, message, extra=fields)` without the search of the stack for the
    calling line (a line that names no source, such as the access line): the search alone cost
    more than building the record."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, __name__, 0, message, (), None,
                                        extra=fields))


class RequestIds(logging.Filter):
    """Adds the current request's ids to every line logged while it is answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = context.current()
        if current is not None and not hasattr(record, "trace.id"):
            setattr(record, "trace.id", current.trace_id)
            setattr(record, "http.request.id", current.request_id)
        return True


class EcsFormatter(ecs_logging.StdlibFormatter):
    def __init__(self, redact: Redactor, service_version: str):
        super().__init__(extra={"service.name": SERVICE_NAME, "service.version": service_version},
                         ensure_ascii=False)
        self.redact = redact
        self.service = {"name": SERVICE_NAME, "version": service_version}

    def format(self, record: logging.LogRecord) -> str:
        document = getattr(record, ECS_DOCUMENT, None)
        if document is None:
            return self.redact(super().format(record))
        return self.redact(self.format_document(record, document))

    def format_document(self, record: logging.LogRecord, document: dict) -> str:
        """A line whose ECS fields come already nested (the access line): the same form as
        ecs-logging's, written with one JSON encoding."""
        seconds = time.gmtime(record.created)
        line = {
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", seconds)
                          + f".{int(record.msecs):03d}Z",
            "log.level": record.levelname.lower(),
            "message": record.getMessage(),
            "ecs.version": ECS_VERSION,
            **document,
            "log": {"logger": record.name},
            "process": {"name": record.processName, "pid": record.process,
                        "thread": {"id": record.thread, "name": record.threadName}},
            "service": self.service,
        }
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(ids)s",
                         datefmt="%Y-%m-%d %H:%M:%S")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        trace_id = getattr(record, "trace.id", None)
        record.ids = f" [{getattr(record, 'http.request.id')}]" if trace_id else ""
        return self.redact(super().format(record))


def resolve_format(value: str, stream=None) -> str:
    value = value.strip().lower()
    if value in ("ecs", "json"):
        return "ecs"
    if value == "console":
        return "console"
    stream = stream or sys.stderr
    return "console" if stream.isatty() else "ecs"


def configure(settings, service_version: str) -> logging.Handler:
    """One handler on the root logger (replacing the one an earlier app installed)."""
    redact = Redactor(configured_secrets(settings))
    handler = logging.StreamHandler(sys.stderr)
    handler.name = OUR_HANDLER
    if resolve_format(settings.LOG_FORMAT) == "ecs":
        handler.setFormatter(EcsFormatter(redact, service_version))
    else:
        handler.setFormatter(ConsoleFormatter(redact))
    handler.addFilter(RequestIds())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.name == OUR_HANDLER:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.LOG_LEVEL.upper())
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    return handler


class ServerEcsFormatter(EcsFormatter):
    """For granian's own lines (`--log-config`, app/observability/granian-ecs.json): the same
    form and redaction as the service's, with the settings read from the environment."""

    def __init__(self, *args, **kwargs):
        super().__init__(Redactor(configured_secrets(Config.from_env())), "")
