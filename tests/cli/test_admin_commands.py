"""The administration commands, in process with click's runner, on a real SQLite file and
simulated modems."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import modem.sim
from gateway.cli import server_commands as cli


@pytest.fixture(autouse=True)
def fresh_networks():
    yield
    modem.sim.reset_networks()


def run(*args):
    return CliRunner().invoke(cli.main, list(args), prog_name="msisdn-gateway")


@pytest.fixture
def state(tmp_path):
    return ["--state-dir", str(tmp_path)]


def test_modems_with_simulate_lists_the_simulated_modem(state):
    result = run("modems", "--simulate", *state)
    assert result.exit_code == 0, result.output
    header, row, *rest = result.output.splitlines()
    worker = (Path(state[1]) / "worker-id").read_text().strip()  # made once, kept
    assert header.split()[:4] == ["WORKER", "MODEM", "PORT", "MODEL"]
    assert row.split()[:2] == [worker, "sim0"]
    assert "208-01" in row and "ready" in row and "home" in row
    assert rest[-1].startswith(f"Workers: {worker} on ")
    [modem_] = json.loads(run("modems", "--simulate", "--json", *state).output)
    assert modem_["healthy"] is True and modem_["number"] == "+33700000001"
    assert modem_["worker"] == worker
    assert modem_["imsi"].startswith("20801") and "*" in modem_["imsi"]


def test_modems_without_a_worker_says_so(state):
    result = run("modems", *state)
    assert result.exit_code == 0
    assert "No modem reported: is the worker running?" in result.output


def test_send_follows_a_test_sms_until_it_is_delivered(state):
    result = run("send", "--simulate", "--json", *state, "+33612345678", "hello")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["final"]["status"] == "delivered" and report["final"]["modem"] == "sim0"
    assert report["changes"][-1]["status"] == "delivered"
    listed = json.loads(run("outbox", "--json", *state).output)
    assert [(r["recipient"], r["purpose"], r["status"]) for r in listed] == [
        ("+33*******78", "test", "delivered")]  # masked: the number is not kept


def test_send_without_a_worker_stays_queued_and_fails(state):
    assert run("keys", "generate", *state).exit_code == 0  # it is sealed with the secret
    result = run("send", "--timeout", "0", *state, "+33612345678", "hello")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "queued"


def test_send_refuses_a_bad_number(state):
    result = run("send", "--simulate", *state, "0612345678", "hello")
    assert result.exit_code == 1 and "E.164" in result.output


def test_selftest_passes_every_step_on_a_good_simulated_sim(state):
    result = run("selftest", "--simulate", *state)
    assert result.exit_code == 0, result.output
    verdicts = [line.split()[0] for line in result.output.splitlines()[1:]]
    assert verdicts == ["PASS"] * 6
    assert "SMS to own number: came back" in result.output


def test_selftest_names_the_failing_step_and_exits_non_zero(state):
    result = run("selftest", "--json", "--timeout", "2", *state,
                 "--modem", "modemsim://bad?fault=smsc_unknown&number=%2B33700000009")
    assert result.exit_code == 1
    steps = {s["name"]: s for s in json.loads(result.output)["modem"]}
    assert steps["SMS centre"]["ok"] is False and "330" in steps["SMS centre"]["detail"]
    assert steps["network registration"]["ok"] is True


def test_selftest_reports_a_wrong_pin(state):
    result = run("selftest", "--pin", "0000", *state,
                 "--modem", "modemsim://locked?pin=1234")
    assert result.exit_code == 1
    assert "FAIL  open and initialise" in result.output and "PIN" in result.output


def test_selftest_without_modems_is_a_clear_error(state):
    result = run("selftest", *state)
    assert result.exit_code == 1 and "no modem to test" in result.output


def test_selftest_refuses_while_the_worker_holds_the_modems(state, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[[modems]]\nurl = "/dev/gsm-modem-0"\n')
    assert run("modems", "--simulate", *state).exit_code == 0  # a worker just reported
    result = CliRunner().invoke(cli.main, ["--config", str(config), "selftest", *state])
    assert result.exit_code == 1 and "Stop it first" in result.output


def test_inbox_lists_received_sms_newest_first(state, tmp_path):
    from datetime import datetime, timezone

    from gateway.config.settings import load_settings
    from gateway.storage.models import InboxMessage
    from gateway.storage.uow import uow_factory
    from gateway.process.wiring import prepare_database

    assert run("inbox", *state).output.strip() == "(none)"
    engine = prepare_database(load_settings(overrides={"state_dir": tmp_path}, environ={}))
    with uow_factory(engine)() as uow:
        for key, text in (("a", "first"), ("b", "STOP")):
            uow.inbox.store(InboxMessage(dedupe_key=key, modem="m0", sender="+33612345678",
                                       text=text, kind="other", outcome="stored", partial=False,
                                       received_at=datetime.now(timezone.utc)))
        uow.commit()
    engine.dispose()
    lines = run("inbox", *state).output.splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "MODEM"]
    assert "STOP" in lines[1] and "first" in lines[2] and "+33612345678" in lines[1]
    assert [r["text"] for r in json.loads(run("inbox", "--json", "--limit", "1", *state).output)
            ] == ["STOP"]


def test_inbox_shows_an_undecodable_sms_masked_and_its_pdu_only_with_the_keys(state, tmp_path):
    from datetime import datetime, timezone

    from gateway.config.settings import load_settings
    from gateway.pipeline.inbound import store_inbound
    from gateway.process.wiring import build_deps, prepare_database
    from modem.inbox import InboundSms

    pdu = "07911326040000F0040B911346610089F60039208062917314080CC8F71D14969741F977FD07"
    assert run("keys", "generate", *state).exit_code == 0
    settings = load_settings(overrides={"state_dir": tmp_path}, environ={})
    engine = prepare_database(settings)
    now = datetime.now(timezone.utc)
    store_inbound(build_deps(settings, engine), InboundSms(
        modem="m0", recipient=None, sender="+31641600986", text="", smsc_timestamp=None,
        smsc=None, partial=False, received_at=now, _claim=None,
        undecodable="compressed user data (TP-DCS 0x39) is not supported", pdu=pdu))
    engine.dispose()
    header, row = run("inbox", *state).output.splitlines()
    assert header.split()[3:6] == ["FROM", "KIND", "OUTCOME"]
    assert "+31*******86" in row and "undecodable" in row and "not decoded: compressed" in row
    assert pdu not in run("inbox", "--json", *state).output
    header, row = run("inbox", "--pdu", *state).output.splitlines()
    assert header.split()[-1] == "PDU" and row.endswith(pdu)
    [listed] = json.loads(run("inbox", "--pdu", "--json", *state).output)
    assert listed["pdu"] == pdu and listed["kind"] == "undecodable"


def test_send_without_the_keys_says_how_to_make_them(state):
    result = run("send", "--timeout", "0", *state, "+33612345678", "hello")
    assert result.exit_code == 1 and "keys generate" in result.output


def test_outbox_filters_by_status(state):
    assert run("keys", "generate", *state).exit_code == 0
    run("send", "--timeout", "0", *state, "+33612345678", "one")
    assert len(json.loads(run("outbox", "--json", "--status", "queued", *state).output)) == 1
    assert json.loads(run("outbox", "--json", "--status", "sent", *state).output) == []


def test_probe_and_sim_hand_over_to_the_modem_tools():
    result = run("probe", "modemsim://probe-me")
    assert result.exit_code == 0, result.output
    assert "IMEI:" in result.output and "AT transcript:" in result.output
    assert run("sim", "--help").exit_code == 0


def test_probe_simulate_needs_no_url_and_a_port_in_use_is_refused(state):
    result = run("probe", "--simulate")
    assert result.exit_code == 0 and "Registration: home" in result.output
    assert run("modems", "--simulate", *state).exit_code == 0  # sim0 reported just now
    busy = run("probe", *state, "modemsim://sim0?network=gateway")
    assert busy.exit_code == 1 and "stop it first" in busy.output


def test_modems_counts_what_each_modem_sent_and_failed_today(state):
    for text in ("one", "two"):
        assert run("send", "--simulate", *state, "+33612345678", text).exit_code == 0
    # the first one failed after all (as a permanent-failure delivery report would say)
    from gateway.config.settings import load_settings
    from gateway.storage.uow import uow_factory
    from gateway.process.wiring import prepare_database

    engine = prepare_database(load_settings(overrides={"state_dir": state[1]}, environ={}))
    with uow_factory(engine)() as uow:
        row = uow.outbox.get(1)
        row.status, row.modem = "failed", "sim0"
        uow.commit()
    engine.dispose()
    [modem_] = json.loads(run("modems", "--simulate", "--json", *state).output)
    assert (modem_["sent_today"], modem_["failed_today"]) == (1, 1)  # from the outbox
