"""A secured node of the suite's own, the shape of every production cluster since Elasticsearch 8:
security on, TLS on HTTP with a certificate from `bin/elasticsearch-certutil`, file-realm users
from `bin/elasticsearch-users` with their roles in `config/roles.yml`, and a service-account
token from `bin/elasticsearch-service-tokens` for a Bearer credential.

The distribution's native realm cannot store users, roles or API keys (its `.security` index
needs a module the integ-test distribution lacks), so every credential here is file-based;
users' clusters create API keys as usual, and the service forwards them the same way.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import urllib3

from tests.support.nodes import HOW_TO_GET_A_NODE, REPO_ROOT, LocalNode

SERVICE_ROLE_FILE = REPO_ROOT / "roles" / "connector_sync_jobs.json"
SERVICE_USER = "connector_service"
CONTENT_INDEX = "search-worker-flow"
# Roles of the node's roles.yml; the service's is the documented one, read from the repository.
ROLES = {
    "connector_sync_jobs": json.loads(SERVICE_ROLE_FILE.read_text()),
    "connector_manager": {"cluster": ["manage_connector"]},
    "connector_reader": {"cluster": ["monitor_connector"]},
    # What Elastic documents for a self-managed connector's API key (elastic/connectors docs).
    "connector_worker": {
        "cluster": ["monitor", "manage_connector"],
        "indices": [{"names": [CONTENT_INDEX, f".search-acl-filter-{CONTENT_INDEX}",
                               ".elastic-connectors*"],
                     "privileges": ["all"], "allow_restricted_indices": False}]},
    "no_privileges": {},
}
# User -> roles. `admin` sets tests up and reads what is stored, as an operator would.
USERS = {
    "admin": "superuser",
    SERVICE_USER: "connector_sync_jobs",
    "manager": "connector_manager",
    "reader": "connector_reader",
    "worker": "connector_worker",
    "nobody": "no_privileges",
}
# Service accounts given a token, by Elasticsearch major version: the first may manage
# connectors (9.x fleet-server holds `cluster:admin/xpack/connector/*`; 8.x fleet-server does
# not, and 8.x enterprise-search-server holds `manage`), auto-ops holds no connector privilege.
SERVICE_ACCOUNTS = {"8": ("elastic/enterprise-search-server", "elastic/auto-ops"),
                    "9": ("elastic/fleet-server", "elastic/auto-ops")}
TOKEN_NAME = "connector-sync-jobs-tests"
TLS_SETTINGS = {
    "xpack.security.enabled": "true",
    "xpack.security.http.ssl.enabled": "true",
    "xpack.security.http.ssl.certificate": "certs/http.crt",
    "xpack.security.http.ssl.key": "certs/http.key",
    # One node on loopback: no transport TLS needed for the single-node discovery.
    "xpack.security.transport.ssl.enabled": "false",
}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def password_of(user: str) -> str:
    return f"{user}-Pa55word"


class SecuredNode(LocalNode):
    """A LocalNode with security and TLS on, its users, roles, CA and token made before it starts."""

    def __init__(self, name: str = "secured", **options):
        super().__init__(name, settings=TLS_SETTINGS, **options)
        self.config_dir = self.run_dir / "config"
        self.environment.update({"ES_PATH_CONF": str(self.config_dir), "ES_WAIT_FOR_HEALTH": "no"})
        self.url = f"https://127.0.0.1:{self.http_port}"
        self.ca_certs = str(self.run_dir / "ca.crt")
        self.tokens: dict[str, str] = {}  # service account -> token

    # Credentials

    def headers(self, user: str) -> dict[str, str]:
        """The Authorization header of one of the node's users."""
        return basic(user, password_of(user))

    @property
    def service_accounts(self) -> tuple[str, str]:
        return SERVICE_ACCOUNTS[self.version.split(".")[0]]

    @property
    def bearer(self) -> dict[str, str]:
        """The token of a service account that may manage connectors."""
        return {"Authorization": f"Bearer {self.tokens[self.service_accounts[0]]}"}

    @property
    def auto_ops_token(self) -> str:
        return self.tokens["elastic/auto-ops"]

    def service_settings(self) -> dict[str, str]:
        """The service's settings in front of this node: TLS with its CA, the service's user."""
        return {"ELASTICSEARCH_URL": self.url, "ELASTICSEARCH_CA_CERTS": self.ca_certs,
                "ELASTICSEARCH_USERNAME": SERVICE_USER,
                "ELASTICSEARCH_PASSWORD": password_of(SERVICE_USER)}

    # Starting

    def start(self) -> str:
        if not self.tokens:
            self._make_config()
        super().start()
        self._wait_until_healthy()
        return self.url

    def _tool(self, *args: str, config: Path) -> subprocess.Popen:
        env = {**os.environ, **self.environment, "ES_PATH_CONF": str(config)}
        return subprocess.Popen([str(REPO_ROOT / "scripts" / "elasticsearch-tool"), *args],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _finish(process: subprocess.Popen, what: str) -> str:
        out, err = process.communicate(timeout=300)
        if process.returncode != 0:
            raise RuntimeError(f"{HOW_TO_GET_A_NODE}\n{what} failed: {err[-2000:]}")
        return out

    def _make_config(self) -> None:
        """The node's config folder, made by the distribution's tools once per definition of
        the users, roles and tokens above and kept beside the distribution for later runs (the
        tools start a JVM each: tens of seconds on a busy machine)."""
        home = subprocess.run([str(REPO_ROOT / "scripts" / "install-elasticsearch"),
                               "--print-home"], env={**os.environ, **self.environment},
                              capture_output=True, text=True, timeout=900)
        if home.returncode != 0:
            raise RuntimeError(f"{HOW_TO_GET_A_NODE}\n{home.stderr[-2000:]}")
        home = Path(home.stdout.strip())
        definition = json.dumps([ROLES, USERS, self.service_accounts, TOKEN_NAME, self.version],
                                sort_keys=True)
        kept = home.parent / f"secured-config-{hashlib.sha256(definition.encode()).hexdigest()[:16]}"
        if not (kept / "tokens.json").exists():
            made = Path(tempfile.mkdtemp(prefix="secured-config-", dir=home.parent))
            self._make_config_with_tools(home / "config", made)
            if kept.exists():
                shutil.rmtree(made)  # another run made the same a moment earlier
            else:
                made.rename(kept)
        shutil.copytree(kept, self.config_dir)
        self.tokens = json.loads((self.config_dir / "tokens.json").read_text())
        shutil.copy(self.config_dir / "certs" / "ca.crt", self.ca_certs)

    def _make_config_with_tools(self, distribution_config: Path, config: Path) -> None:
        """Into `config`: the distribution's config/ plus roles, then the CA and certificate,
        the users and the tokens, the tools running side by side: each user and token in a
        scratch copy of the folder (every `useradd` or `create` rewrites the same file), merged
        afterwards."""
        config.chmod(0o755)
        shutil.copytree(distribution_config, config, dirs_exist_ok=True)
        with (config / "roles.yml").open("a") as roles:
            for name, role in ROLES.items():
                roles.write(f"{name}: {json.dumps(role)}\n")  # JSON is YAML
        scratch_root = Path(tempfile.mkdtemp(prefix="scratch-", dir=config.parent))
        scratch_root.chmod(0o755)
        scratch = {name: scratch_root / name.replace("/", "-") for name in [*USERS, *self.service_accounts]}
        for folder in scratch.values():
            shutil.copytree(config, folder)

        ca = self._tool("certutil", "ca", "--silent", "--pem", "--out", str(config / "ca.zip"),
                        config=config)
        users = {user: self._tool("users", "useradd", user, "-p", password_of(user), "-r", role,
                                  config=scratch[user]) for user, role in USERS.items()}
        tokens = {account: self._tool("service-tokens", "create", account, TOKEN_NAME,
                                      config=scratch[account]) for account in self.service_accounts}
        self._finish(ca, "certutil ca")
        _unzip(config / "ca.zip")
        cert = self._tool("certutil", "cert", "--silent", "--pem", "--name", "http",
                          "--ca-cert", str(config / "ca" / "ca.crt"),
                          "--ca-key", str(config / "ca" / "ca.key"),
                          "--ip", "127.0.0.1", "--dns", "localhost",
                          "--out", str(config / "http.zip"), config=config)
        for user, process in users.items():
            self._finish(process, f"elasticsearch-users useradd {user}")
        printed = {account: self._finish(process, f"elasticsearch-service-tokens create {account}")
                   for account, process in tokens.items()}
        self._finish(cert, "certutil cert")
        _unzip(config / "http.zip")
        _merge_credentials(scratch, config)
        shutil.rmtree(scratch_root)
        (config / "certs").mkdir()
        for source in ("http/http.crt", "http/http.key", "ca/ca.crt"):
            shutil.copy(config / source, config / "certs")
        # "SERVICE_TOKEN elastic/fleet-server/<name> = <token>"
        (config / "tokens.json").write_text(json.dumps(
            {account: line.split("=", 1)[1].strip() for account, line in printed.items()}))

    def _wait_until_healthy(self, timeout: float = 180.0) -> None:
        """The start script's own wait is plain HTTP without credentials: wait over TLS here."""
        http = urllib3.PoolManager(ca_certs=self.ca_certs, retries=False,
                                   timeout=urllib3.Timeout(total=10))
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = http.request("GET", self.url + "/_cluster/health?wait_for_status=yellow"
                                      "&timeout=5s", headers=self.headers("admin"))
                if answer.status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = "".join(path.read_text()[-2000:] for path in
                               (self.run_dir / "logs").glob("*.log"))
                raise TimeoutError(f"the secured node on {self.url} did not become healthy in "
                                   f"{timeout} s\n{logs}")
            time.sleep(1)


def _unzip(archive_path: Path) -> None:
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(archive_path.parent)


def _merge_credentials(scratch: dict[str, Path], config: Path) -> None:
    """Each scratch folder's own lines of `users`, `users_roles` and `service_tokens`."""
    lines: dict[str, list[str]] = {"users": [], "service_tokens": []}
    members: dict[str, set[str]] = {}
    for name, folder in scratch.items():
        for file, kept in lines.items():
            path = folder / file
            if path.exists():
                kept.extend(line for line in path.read_text().splitlines()
                            if line.startswith((f"{name}:", f"{name}/")))
        for line in (folder / "users_roles").read_text().splitlines():
            role, _, names = line.partition(":")
            members.setdefault(role, set()).update(n for n in names.split(",") if n)
    for file, kept in lines.items():
        (config / file).write_text("".join(f"{line}\n" for line in kept))
    (config / "users_roles").write_text(
        "".join(f"{role}:{','.join(sorted(names))}\n" for role, names in members.items()))
