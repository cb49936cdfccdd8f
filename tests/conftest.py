"""Shared fixtures: real settings, a real SQLite file, the real Flask app served over
real HTTP on 127.0.0.1, and a fake clock (the only thing faked)."""
from __future__ import annotations

import shutil
import threading
from datetime import datetime, timezone

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from requests_hawk import HawkAuth
from sqlalchemy import select
from werkzeug.serving import make_server

from fakes import FakeClock
from gateway.api.app import create_app
from gateway.config.keys import generate_keys, load_keys
from gateway.config.settings import load_settings
from gateway.crypto.sealing import open_sms
from gateway.crypto.tokens import SealError
from gateway.storage.models import OutboundSms
from gateway.process.wiring import build_deps, prepare_database
from gateway.storage.db import make_engine
from gateway.storage.migrate import upgrade

#: The directories whose tests carry a speed marker (declared in pytest.ini): `make
#: test-fast` deselects them, `make test` runs everything.
DIRECTORY_MARKERS = {"e2e": "e2e", "pg": "pg", "deploy": "deploy"}


def pytest_collection_modifyitems(config, items):
    """Mark every test by the directory it lives in (tests/e2e -> e2e, ...)."""
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        if len(parts) > 2 and parts[0] == "tests" and parts[1] in DIRECTORY_MARKERS:
            item.add_marker(DIRECTORY_MARKERS[parts[1]])


@pytest.fixture(scope="session")
def key_files(tmp_path_factory):
    """One signing key and secret for the whole run (RSA generation is slow)."""
    settings = load_settings(overrides={"state_dir": tmp_path_factory.mktemp("keys")}, environ={})
    return tuple(generate_keys(settings))


@pytest.fixture(scope="session")
def server_keys(key_files):
    """The run's signing key and secret, loaded once (parsing an RSA key takes ~35 ms)."""
    return load_keys(load_settings(overrides={"signing_key_file": key_files[0],
                                              "secret_key_file": key_files[1]}, environ={}))


@pytest.fixture
def make_settings(tmp_path, key_files):
    """Settings as the CLI would build them, with no environment and a temporary state dir."""
    def make(**overrides):
        values = {"state_dir": tmp_path, "signing_key_file": key_files[0],
                  "secret_key_file": key_files[1]}
        values.update(overrides)
        return load_settings(overrides=values, environ={})
    return make


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A SQLite file with every migration applied, made once per run: running Alembic costs
    about 0.1 s, so tests that are not about migrations start from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def open_database(migrated_sqlite):
    """``open_database(settings)``: the engine of the settings' database, migrated. The
    default SQLite file starts as a copy of the migrated template; any other URL is
    migrated as the gateway does it (prepare_database)."""
    def open_(settings):
        if settings.database_url is None:
            shutil.copyfile(migrated_sqlite, settings.state_dir / "msisdn-gateway.sqlite3")
            return make_engine(settings.effective_database_url)
        return prepare_database(settings)
    return open_


@pytest.fixture
def clock():
    return FakeClock(start=datetime.now(timezone.utc).replace(microsecond=0))


class Gateway:
    """A gateway app served over HTTP on 127.0.0.1, and a client for it."""

    def __init__(self, settings, clock, engine, deps, url):
        self.settings, self.clock, self.engine, self.deps, self.url = (
            settings, clock, engine, deps, url)
        self.http = requests.Session()

    def auth(self, token, **kwargs):
        kwargs.setdefault("_timestamp", int(self.clock.now().timestamp()))
        kwargs.setdefault("server_url", self.settings.public_url or self.url)
        return HawkAuth(hawk_session=token, **kwargs)

    def post(self, path, body=None, token=None, **kwargs):
        if token is not None:
            kwargs["auth"] = self.auth(token)
            if body is None and "data" not in kwargs:
                body = {}  # requests-hawk refuses to sign a request without a body
        if body is not None:
            kwargs["json"] = body
        return self.http.post(self.url + path, **kwargs)

    def publish_modem(self, name="modem0", **values):
        """Write a modem status row as the worker would (the API's only view of modems)."""
        row = {"worker": "box-a", "name": name, "url": f"/dev/gsm-{name}", "state": "ready",
               "healthy": True,
               "model": "SIMCOM_SIM7600", "number": "+33700000001", "mcc": "208",
               "mnc": "01", "region": "FR", "signal_dbm": -71, "registration": "home",
               "sent_today": 0, "failed": 0, "updated_at": self.clock.now()}
        row.update(values)
        with self.deps.uow() as uow:
            uow.modems.upsert(row)
            uow.commit()

    def metric(self, name: str, **labels) -> float:
        """The sum of /metrics samples ``name`` whose labels include ``labels``."""
        text = self.get("/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == name and all(sample.labels.get(k) == v
                                                  for k, v in labels.items()))

    def get(self, path, **kwargs):
        return self.http.get(self.url + path, **kwargs)

    def register(self) -> str:
        response = self.post("/v1/msisdn/register")
        assert response.status_code == 200, response.text
        return response.json()["msisdnSessionToken"]

    def outbox(self) -> list[OutboundSms]:
        with self.deps.uow() as uow:
            return list(uow.db.scalars(select(OutboundSms).order_by(OutboundSms.id)))

    def opened_outbox(self) -> list[tuple[OutboundSms, str | None, str | None]]:
        """Each outbox row, oldest first, with its sealed number and text opened as the
        worker would (gateway.crypto.sealing): (row, E.164 number, text), the last two
        None once the row was scrubbed (final, or its session unregistered)."""
        rows = self.outbox()
        with self.deps.uow() as uow:
            bindings = uow.outbox.session_bindings(rows)
        opened = []
        for row in rows:
            try:
                opened.append((row, *open_sms(self.deps.secret, bindings[row.id], row.sealed)))
            except SealError:
                opened.append((row, None, None))
        return opened

    def last_sms_to(self, msisdn: str) -> str:
        """The text of the newest SMS waiting for ``msisdn``."""
        texts = [text for _row, to, text in self.opened_outbox() if to == msisdn]
        assert texts, f"no SMS queued for {msisdn}"
        return texts[-1]


@pytest.fixture
def start_gateway(make_settings, clock, open_database, server_keys):
    servers = []

    def start(modems=1, **overrides) -> Gateway:
        """A gateway whose worker (absent) published ``modems`` healthy modem statuses
        that never go stale, unless ``modem_status_ttl`` is overridden."""
        overrides.setdefault("modem_status_ttl", 10 ** 9)
        settings = make_settings(**overrides)
        engine = open_database(settings)
        deps = build_deps(settings, engine, clock, server_keys)
        server = make_server("127.0.0.1", 0, create_app(deps, engine), threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="test-http",
                                  daemon=True)
        thread.start()
        servers.append((server, thread, engine))
        gateway = Gateway(settings, clock, engine, deps, f"http://127.0.0.1:{server.server_port}")
        for index in range(modems):
            gateway.publish_modem(f"modem{index}", number=f"+3370000000{index + 1}")
        return gateway

    yield start
    for server, thread, engine in servers:
        server.shutdown()
        thread.join()
        server.server_close()
        engine.dispose()


@pytest.fixture
def gateway(start_gateway) -> Gateway:
    return start_gateway()


def assert_error(response, status: int, errno: int) -> dict:
    """The response is the spec's error body with this status and errno."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"code", "errno", "error", "message", "info"}
    assert body["code"] == status and body["errno"] == errno, body
    if status in (429, 503):
        assert body["retryAfter"] >= 1
        assert response.headers["Retry-After"] == str(body["retryAfter"])
    return body
