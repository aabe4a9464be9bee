"""The connector indices' templates and layout: installs the templates of `index_templates/`,
creates or adopts the indices behind the aliases, and refuses a layout it cannot write to."""

import json
import logging
import threading
import time
from pathlib import Path

import elasticsearch
from elasticsearch import Elasticsearch

from app.about import SERVICE_NAME
from app.exceptions import StorageUnavailable
from app.storage.client_errors import IndexLayoutConflict, error_type, translated_errors
from app.storage.names import CONCRETE_INDICES

log = logging.getLogger(__name__)

# app/index_templates: in a checkout a link to the top-level index_templates/, in an installed
# package (the container image) a copy of it, shipped as package data.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "index_templates"


def template_mappings(directory: Path = TEMPLATES_DIR) -> dict[str, dict]:
    """The mappings (properties, _meta) each alias's index must have, from the component
    templates that add the alias."""
    components, _ = load_index_templates(directory)
    wanted = {}
    for body in components.values():
        template = body.get("template", {})
        for alias in template.get("aliases", {}):
            wanted[alias] = template.get("mappings", {})
    return wanted


def flatten_properties(properties: dict, prefix: str = "") -> dict[str, str]:
    """`{"a": {"properties": {"b": {"type": "date"}}}}` -> `{"a": "object", "a.b": "date"}`."""
    flat = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        flat[path] = spec.get("type", "object")
        flat.update(flatten_properties(spec.get("properties", {}), f"{path}."))
    return flat


def load_index_templates(directory: Path = TEMPLATES_DIR) -> tuple[dict, dict]:
    """Component and index templates from `index_templates/`, keyed by name (the file stem).

    A file with `index_patterns` is an index template; any other is a component template.
    """
    components, index_templates = {}, {}
    for path in sorted(directory.glob("*.json")):
        body = json.loads(path.read_text())
        (index_templates if "index_patterns" in body else components)[path.stem] = body
    return components, index_templates


class IndexLayout:
    """The templates and indices the documents live in, made ready once per process."""

    def __init__(self, client: Elasticsearch, templates_dir: Path = TEMPLATES_DIR):
        self.client = client
        self.templates_dir = templates_dir
        self.ready = False
        self._ready_lock = threading.Lock()

    def ensure_ready(self) -> None:
        """Installs the templates and creates the indices if needed; cheap once done."""
        with self._ready_lock:
            if self.ready:
                return
            # First: ES refuses our templates while an index squats on an alias name.
            self._refuse_squatters()
            self.install_index_templates()
            self.create_indices()
            self.ready = True

    def reinstall(self) -> None:
        """After an operator deleted an index: templates and indices again, from scratch."""
        self.ready = False
        self.ensure_ready()

    def _template_kinds(self):
        """Component templates first (index templates are composed of them): for each kind,
        the templates of index_templates/, how to read one installed and how to put one."""
        components, index_templates = load_index_templates(self.templates_dir)
        cluster, indices = self.client.cluster, self.client.indices
        return [(components, cluster.get_component_template, "component_templates",
                 cluster.put_component_template),
                (index_templates, indices.get_index_template, "index_templates",
                 indices.put_index_template)]

    def install_index_templates(self) -> dict[str, str]:
        """Puts each template whose installed version is missing or lower than ours.

        Returns what happened to each template: "installed", "updated" or "current". Refuses,
        before putting any, a layout that a newer release of this service installed: one of
        its templates is ours (`_meta.managed_by`) with a version above this release's.
        """
        with translated_errors():
            found = [(name, body, put, self._installed(get, key, name))
                     for templates, get, key, put in self._template_kinds()
                     for name, body in templates.items()]
            self._refuse_newer_layout(found)
            return {name: self._put_if_newer(installed, body,
                                             lambda n=name, b=body, p=put: p(name=n, body=b))
                    for name, body, put, installed in found}

    @staticmethod
    def _installed(getter, key: str, name: str) -> dict | None:
        """The installed template's body (its version, _meta...); None if it is not installed."""
        try:
            found = getter(name=name)
        except elasticsearch.NotFoundError:
            return None
        template = found[key][0]
        return template.get("component_template") or template.get("index_template") or {}

    @staticmethod
    def _refuse_newer_layout(found: list) -> None:
        newer = [f"[{name}] is version {installed['version']}, this release knows "
                 f"{body.get('version', 0)}" for name, body, _, installed in found
                 if installed is not None
                 and installed.get("_meta", {}).get("managed_by") == SERVICE_NAME
                 and (installed.get("version") or 0) > body.get("version", 0)]
        if newer:
            raise IndexLayoutConflict(
                f"the connector indices have a layout written by a newer release of "
                f"{SERVICE_NAME} ({'; '.join(newer)}): this release does not write to a layout "
                f"newer than it knows. Run that newer release (or a later one).")

    @staticmethod
    def _put_if_newer(installed: dict | None, body: dict, put) -> str:
        version = None if installed is None else installed.get("version")
        if version is not None and version >= body.get("version", 0):
            return "current"
        put()
        return "installed" if installed is None else "updated"

    def create_indices(self) -> list[str]:
        """Makes each alias lead to its concrete index: creates the index when missing, adopts a
        compatible one that someone else created (the connectors framework or ES's built-in
        plugin create the same names), and refuses a layout it cannot write to safely."""
        created = []
        wanted = template_mappings(self.templates_dir)
        with translated_errors():
            for alias, concrete in CONCRETE_INDICES.items():
                existing = self._indices_named(alias, concrete)
                strangers = sorted(set(existing) - {concrete})
                if strangers:
                    raise IndexLayoutConflict(
                        f"the alias [{alias}] leads to {strangers}, not to [{concrete}]: remove "
                        "it from those indices, then restart the service.")
                if concrete not in existing:
                    self._create_index(concrete, created)
                else:
                    self._adopt_index(alias, concrete, existing[concrete], wanted[alias])
        return created

    def _indices_named(self, alias: str, concrete: str) -> dict:
        """The indices reached by either name, keyed by concrete name."""
        return self.client.indices.get(index=[alias, concrete], ignore_unavailable=True,
                                       allow_no_indices=True, expand_wildcards="all").body

    def _refuse_squatters(self) -> None:
        with translated_errors():
            for alias, concrete in CONCRETE_INDICES.items():
                if alias in self._indices_named(alias, concrete):
                    raise IndexLayoutConflict(
                        f"[{alias}] is a concrete index, but this service needs that name as the "
                        f"alias of [{concrete}]. Move its documents to [{concrete}] (reindex) and "
                        f"delete [{alias}], then restart the service.")

    def _create_index(self, concrete: str, created: list[str]) -> None:
        try:
            self.client.indices.create(index=concrete)
            created.append(concrete)
        except elasticsearch.BadRequestError as err:
            if error_type(err) != "resource_already_exists_exception":
                raise

    def _adopt_index(self, alias: str, concrete: str, found: dict, wanted: dict) -> None:
        """Shares or upgrades an existing concrete index: same field types required; missing
        fields, a newer mapping `_meta` (its layout version), the alias and the hidden flag are
        added (no field already there is changed)."""
        mappings = found.get("mappings", {})
        present = flatten_properties(mappings.get("properties", {}))
        wanted_fields = flatten_properties(wanted.get("properties", {}))
        conflicts = sorted(f"{field} is [{present[field]}], needs [{kind}]"
                           for field, kind in wanted_fields.items()
                           if field in present and present[field] != kind)
        if conflicts:
            raise IndexLayoutConflict(
                f"the existing index [{concrete}] maps fields differently from the connector "
                f"indices ({'; '.join(conflicts)}). Reindex it into an index with the mappings "
                "of index_templates/, or delete it, then restart the service.")
        update = {}
        if any(field not in present for field in wanted_fields):
            update.update(properties=wanted.get("properties", {}), dynamic="false")
        meta, wanted_meta = mappings.get("_meta", {}), wanted.get("_meta", {})
        if (meta.get("version") or 0) < (wanted_meta.get("version") or 0):
            update["meta"] = {**meta, **wanted_meta}
        if update:
            self.client.indices.put_mapping(index=concrete, **update)
        if alias not in found.get("aliases", {}):
            self.client.indices.put_alias(index=concrete, name=alias)
        if found.get("settings", {}).get("index", {}).get("hidden") != "true":
            self.client.indices.put_settings(index=concrete, settings={"index.hidden": True})

    def install_in_background(self, attempts: int = 60, delay: float = 2.0) -> threading.Thread:
        """Prepares templates and indices at start-up without blocking it, retrying while ES is down."""

        def run():
            for _ in range(attempts):
                try:
                    self.ensure_ready()
                    log.info("index templates and indices are ready")
                    return
                except StorageUnavailable:
                    time.sleep(delay)
                except IndexLayoutConflict as conflict:
                    log.error("connector indices cannot be used: %s", conflict.reason)
                    return
                except Exception:  # keep serving; the first write retries
                    log.exception("could not prepare index templates and indices")
                    return

        thread = threading.Thread(target=run, name="install-templates", daemon=True)
        thread.start()
        return thread

    def templates_installed(self) -> bool:
        with translated_errors():
            return all(self._installed(get, key, name) is not None
                       for templates, get, key, _ in self._template_kinds() for name in templates)
