"""The worker's identity (gateway.config.worker_identity): the setting, else kept in the
state directory, made once from the host name and a keyed hash of the machine id."""
from __future__ import annotations

import pytest

from gateway.config.settings import SettingsError, load_settings
from gateway.config.worker_identity import (WORKER_ID_FILE, derive_worker_id,
                                            read_machine_id, worker_identity)

MACHINE_A = "4c4c4544003957108052b4c04f384d32"
MACHINE_B = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def machine_id(tmp_path):
    def write(value: str, name: str = "machine-id"):
        path = tmp_path / name
        path.write_text(value + "\n")
        return (path,)
    return write


def settings(tmp_path, **values):
    return load_settings(overrides={"state_dir": tmp_path / "state", **values}, environ={})


def test_two_raspberry_pis_with_the_default_host_name_get_two_identities():
    first = derive_worker_id("raspberrypi", MACHINE_A)
    second = derive_worker_id("raspberrypi", MACHINE_B)
    assert first.startswith("raspberrypi-") and second.startswith("raspberrypi-")
    assert first != second
    assert first == derive_worker_id("raspberrypi", MACHINE_A)  # stable


def test_the_machine_id_itself_is_not_in_the_identity():
    identity = derive_worker_id("box", MACHINE_A)
    assert len(identity) == len("box-") + 8
    assert identity[4:] not in MACHINE_A


def test_the_identity_is_made_once_kept_in_the_state_dir_and_read_back(tmp_path, machine_id):
    files = machine_id(MACHINE_A)
    made = worker_identity(settings(tmp_path), machine_id_files=files, hostname="gw1.example.org")
    assert made == derive_worker_id("gw1", MACHINE_A)
    assert (tmp_path / "state" / WORKER_ID_FILE).read_text() == made + "\n"
    # The host renamed, the machine id gone: the kept identity stays.
    assert worker_identity(settings(tmp_path), machine_id_files=(), hostname="renamed") == made


def test_the_setting_wins_over_the_kept_identity(tmp_path, machine_id):
    worker_identity(settings(tmp_path), machine_id_files=machine_id(MACHINE_A))
    assert worker_identity(settings(tmp_path, worker_id="box-b")) == "box-b"


def test_without_a_machine_id_a_random_identity_is_made_and_kept(tmp_path):
    first = worker_identity(settings(tmp_path), machine_id_files=(), hostname="box")
    assert first.startswith("box-") and first != derive_worker_id("box", None)
    assert worker_identity(settings(tmp_path), machine_id_files=(), hostname="box") == first


def test_the_admin_commands_read_the_identity_without_making_the_file(tmp_path, machine_id):
    files = machine_id(MACHINE_A)
    identity = worker_identity(settings(tmp_path), keep=False, machine_id_files=files,
                               hostname="box")
    assert identity == derive_worker_id("box", MACHINE_A)
    assert not (tmp_path / "state" / WORKER_ID_FILE).exists()


def test_an_odd_host_name_still_gives_a_valid_identity():
    assert derive_worker_id("My_Box (lab)", MACHINE_A).startswith("my-box-lab-")
    assert derive_worker_id("", MACHINE_A).startswith("worker-")
    assert len(derive_worker_id("x" * 200, MACHINE_A)) <= 64


def test_a_machine_id_file_that_is_empty_or_not_an_id_is_skipped(machine_id, tmp_path):
    empty = machine_id("", "empty")
    junk = machine_id("uninitialized", "junk")
    good = machine_id(MACHINE_B.upper(), "good")
    assert read_machine_id(empty + junk + good) == MACHINE_B
    assert read_machine_id(empty + junk + (tmp_path / "missing",)) is None


def test_a_kept_file_that_holds_no_identity_is_refused(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / WORKER_ID_FILE).write_text("two words\n")
    with pytest.raises(SettingsError, match="worker-id does not hold a worker identity"):
        worker_identity(settings(tmp_path))


@pytest.mark.parametrize("value", ["a" * 65, "-box", "box a", "box/a", "bôx"])
def test_a_worker_id_setting_that_is_no_identity_is_refused(value):
    assert load_settings(environ={"MSISDN_GATEWAY_WORKER_ID": "box-a.1_x"}).worker_id \
        == "box-a.1_x"
    with pytest.raises(SettingsError, match="worker_id"):
        load_settings(environ={"MSISDN_GATEWAY_WORKER_ID": value})


def test_worker_lease_defaults_to_30_s_and_must_be_3_s_or_more():
    assert load_settings(environ={}).worker_lease == 30
    with pytest.raises(SettingsError, match="worker_lease must be 3 seconds or more"):
        load_settings(environ={"MSISDN_GATEWAY_WORKER_LEASE": "2"})
