"""The worker's heartbeats (`_check_in`, and `_stats`, the connectors framework's) served on the
front's event loop, declared on their views in the blueprint (`@on_event_loop(handler)`).

On an app thread a heartbeat pays for the hand-off to the thread, Flask's request machinery and
a thread blocked on the node (docs/benchmark.md, "The change of shape, priced"). The front asks
`LoopRoutes.serve` first, for a request whose body it holds whole; it answers only a request
that the app would answer 200 with nothing more than its route: no query string (so no
`pretty`, `filter_path` or unknown parameter), no `Origin` (no CORS or cross-origin check), a
`Host` the service answers to, a path without percent-escapes whose ids Elasticsearch accepts,
a caller the auth mode lets through without asking the cluster (AUTH_MODE=none, a key or user
of AUTH_API_KEYS or AUTH_BASIC_USERS, or with AUTH_MODE=elasticsearch a caller the cluster
authenticated within AUTH_CACHE_SECONDS whose remembered privileges the route's requirement
accepts), and a body as the view's `@rest` contract takes it:
none for a route without a body schema; for one with, a JSON body (one JSON Content-Type, no
Content-Encoding, within MAX_BODY_BYTES, not nested deep enough to need walking) that the
schema loads as it stands. Its answer is the one the app gives: the route's JSON through the
app's own JSON provider, and the app's headers. Anything else, and anything the handler does
not answer itself (it returns None), runs on the thread path as before, so every refusal and
error keeps the app's answer.
"""
import functools

from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header
from werkzeug.routing import RequestRedirect

from app.api.limits import MAX_ID_BYTES
from app.api.requests import JSON_MEDIA_TYPES, may_nest_too_deep, parse_json
from app.auth.callers import static_credentials_accepted
from app.auth.cluster import identity_of, remembered_caller_meets
from app.auth.modes import STATIC_MODES
from app.auth.origins import host_header_allowed
from app.auth.privileges import Requirement, requirement_for
from app.exceptions import RestError
from app.observability import requests
from app.schemas.loading import load_body

LOOP_ATTRIBUTE = "on_event_loop"
# Paths longer than a heartbeat's with a 512-byte id are matched but not remembered, so that
# callers sending long paths cannot grow the memory of matches.
MAX_REMEMBERED_PATH = 1024


def on_event_loop(handler):
    """Declares that `handler(store, observed, **view_args)`, a coroutine function returning the
    route's `result` or None, may answer the view's requests on the event loop. A view whose
    `@rest` contract takes a body gets it loaded, as `body=`."""

    def declare(view):
        setattr(view, LOOP_ATTRIBUTE, handler)
        return view

    return declare


class LoopRoutes:
    """The app's views declared `on_event_loop`, matched through the app's own URL map."""

    def __init__(self, app):
        self.app = app
        self.handlers = {endpoint: getattr(view, LOOP_ATTRIBUTE)
                         for endpoint, view in app.view_functions.items()
                         if hasattr(view, LOOP_ATTRIBUTE)}
        # The body schema of each such view's `@rest` contract (None: it takes no body).
        self.body_schemas = {endpoint: getattr(app.view_functions[endpoint], "rest_contract",
                                               {}).get("body")
                             for endpoint in self.handlers}
        # Only the methods the views declare are matched at all (not the OPTIONS and HEAD
        # that Flask answers by itself): every other request goes straight on.
        self.methods = {method for rule in app.url_map.iter_rules()
                        if rule.endpoint in self.handlers
                        for method in rule.methods - {"OPTIONS", "HEAD"}}
        self.adapter = app.url_map.bind("localhost")
        # Remembered, as the URL map and the settings never change: a worker checks in one job
        # many times, from one host, and the answer is "updated" or "noop".
        self.remembered_match = functools.lru_cache(maxsize=4096)(self.match)
        self.host_allowed = functools.lru_cache(maxsize=256)(self.host_allowed)
        self.answer_body = functools.lru_cache(maxsize=16)(self.answer_body)
        self.mimetype = app.json.mimetype.encode("latin-1")
        # As the app's JSON provider shapes a response (flask.json.provider.DefaultJSONProvider).
        compact = getattr(app.json, "compact", None)
        self.dump_args = ({"indent": 2} if (compact is None and app.debug) or compact is False
                          else {"separators": (",", ":")})

    async def serve(self, scope, observed, body: bytes = b"") -> tuple[int, list, bytes] | None:
        """(status, headers, body) of the answer to a request whose body (`body`) arrived
        whole, or None for the thread path."""
        if scope.get("query_string"):
            return None
        match = self.route(scope)
        if match is None:
            return None
        rule, args = match
        if not self.lets_through(scope["headers"], requirement_for(scope["method"], rule.endpoint)):
            return None
        schema = self.body_schemas[rule.endpoint]
        if schema is not None:
            loaded = self.loaded_body(schema, scope["headers"], body)
            if loaded is None:
                return None
            args = {**args, "body": loaded}  # not in the remembered match
        elif body:
            return None
        handler = self.handlers[rule.endpoint]
        store = self.app.extensions.get("connector_storage")
        if store is None:
            return None
        result = await handler(store, observed, **args)
        if result is None:
            return None
        observed.route = requests.route_label(rule)
        observed.status, observed.served_on = 200, "event_loop"
        body = self.answer_body(result)
        headers = [(b"content-type", self.mimetype),
                   (b"content-length", str(len(body)).encode()),
                   (b"x-elastic-product", b"Elasticsearch"),
                   *((name.lower().encode("latin-1"), value.encode("latin-1"))
                     for name, value in requests.echo_headers(observed))]
        return 200, headers, body

    def answer_body(self, result: str) -> bytes:
        """`{"result": ...}` as the app's JSON provider writes it."""
        return (self.app.json.dumps({"result": result}, **self.dump_args) + "\n").encode()

    def route(self, scope):
        """(rule, view args) of a loop-served view for this path and method, else None."""
        path = scope["path"]
        raw = scope.get("raw_path")
        if scope["method"] not in self.methods or (raw is not None and b"%" in raw) \
                or "//" in path:
            return None
        if len(path) > MAX_REMEMBERED_PATH:
            return self.match(path, scope["method"])
        return self.remembered_match(path, scope["method"])

    def match(self, path: str, method: str):
        """(rule, view args) from the app's URL map, for a loop-served view only."""
        try:
            rule, args = self.adapter.match(path, method=method, return_rule=True)
        except (HTTPException, RequestRedirect):
            return None
        if rule.endpoint not in self.handlers:
            return None
        for name, value in args.items():
            if name.endswith("_id") and (not isinstance(value, str) or len(
                    value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES):
                return None
        return rule, args

    def loaded_body(self, schema, headers, raw: bytes) -> dict | None:
        """The body as the view's `@rest(body=schema)` loads it, or None for the thread path:
        absent, compressed, not declared JSON, too large, too deeply nested, or refused."""
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if not raw.strip() or (limit and len(raw) > limit) or may_nest_too_deep(raw):
            return None
        content_types = []
        for name, value in headers:
            if name == b"content-encoding":
                return None
            if name == b"content-type":
                content_types.append(value)
        if len(content_types) != 1 or self.media_type(content_types[0]) not in JSON_MEDIA_TYPES:
            return None
        try:
            return load_body(schema, parse_json(raw))
        except RestError:
            return None

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def media_type(content_type: bytes) -> str:
        """As werkzeug's `request.mimetype` reads the header."""
        return parse_options_header(content_type.decode("latin-1"))[0].lower()

    def host_allowed(self, host: str | None) -> bool:
        return host_header_allowed(host, self.app.config["ALLOWED_HOSTS"])

    def lets_through(self, headers, requirement: Requirement | None) -> bool:
        """Whether the app's before-request checks would let these headers through as they are:
        no Origin, an allowed Host, a caller the auth mode accepts without the cluster (with
        AUTH_MODE=elasticsearch: remembered, and holding what the route's `requirement` asks;
        None only for a route that authentication alone opens)."""
        hosts, authorization, run_as = [], [], []
        for name, value in headers:
            if name == b"origin":
                return False
            if name == b"host":
                hosts.append(value.decode("latin-1"))
            elif name == b"authorization":
                authorization.append(value.decode("latin-1"))
            elif name == b"es-security-runas-user":
                run_as.append(value.decode("latin-1"))
        config = self.app.config
        if not self.host_allowed(",".join(hosts) if hosts else None):
            return False
        resolved = self.app.extensions.get("auth_mode")
        mode = resolved.decided() if resolved is not None else None
        if mode == "none":
            return True
        if len(authorization) != 1:
            return False
        if mode in STATIC_MODES:
            return static_credentials_accepted(mode, authorization[0], config["AUTH_API_KEYS"],
                                               config["AUTH_BASIC_USERS"])
        remembered = self.app.extensions.get("remembered_callers")
        if mode != "elasticsearch" or remembered is None or len(run_as) > 1:
            return False
        identity = identity_of({"Authorization": authorization[0],
                                "es-security-runas-user": run_as[0] if run_as else ""})
        return remembered_caller_meets(remembered, identity, requirement)
