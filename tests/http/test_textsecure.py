"""The TextSecure registration face over HTTP (real app, real SQLite file, fake clock):
codes, confirmation, push ids, prekeys, directory, and every error status of the seed."""
import base64
import sqlite3
from contextlib import closing

import pytest

from gateway.crypto import passwords as crypto_passwords
from textsecure_client import TextSecureClient, code_of, contact_token

ALICE, BOB, CAROL = "+33612345678", "+33698765432", "+33611223344"


def client(gateway, number=ALICE):
    return TextSecureClient(gateway.url, number, gateway.http)


def ts_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == status and body["message"], body
    return body


def registered(gateway, number=ALICE, **confirm):
    phone = client(gateway, number)
    assert phone.request_code().status_code == 200
    response = phone.confirm(code_of(gateway.last_sms_to(number)), **confirm)
    assert response.status_code == 200, response.text
    return phone


def test_a_code_request_queues_the_textsecure_sms_through_the_outbox(gateway):
    phone = client(gateway)
    response = phone.request_code()
    assert response.status_code == 200 and response.content == b""
    [(row, to, text)] = gateway.opened_outbox()
    assert to == ALICE and row.recipient == "+33*******78" and row.purpose == "textsecure/sms"
    assert text.startswith("Your TextSecure verification code: ")
    assert len(code_of(text)) == 7


def test_the_code_sms_is_in_the_callers_language(gateway):
    client(gateway).request_code(headers={"Accept-Language": "fr-CA, en;q=0.5"})
    assert gateway.last_sms_to(ALICE).startswith("Votre code de vérification TextSecure : ")


def test_voice_and_unknown_transports_are_415_and_bad_numbers_400(gateway):
    phone = client(gateway)
    ts_error(phone.request_code("voice"), 415)
    ts_error(phone.request_code("pigeon"), 415)
    for number in ("0612345678", "+336", "+3361234567890123", "%2B33abc", "+44%20"):
        ts_error(phone.request_code(number=number), 400)
    assert gateway.outbox() == []


def test_head_acts_on_nothing(gateway):
    # Flask would answer HEAD with the GET view: a code SMS queued by a HEAD request.
    response = gateway.http.head(gateway.url + "/v1/accounts/sms/code/+33612345678")
    assert response.status_code == 405
    assert gateway.outbox() == []


def test_a_destination_the_policy_refuses_is_400(gateway):
    ts_error(client(gateway).request_code(number="+14155550123"), 400)  # not a modem country
    ts_error(client(gateway).request_code(number="+33140000000"), 400)  # a fixed line


def test_every_rate_limit_is_413_with_retry_after(start_gateway):
    gateway = start_gateway(rate_limit_msisdn=["2/10m"], rate_limit_client_sms=["3/1h"],
                            rate_limit_method=["4/1h"], rate_limit_client=["9/1m"])
    phone = client(gateway)
    assert [phone.request_code().status_code for _ in range(2)] == [200, 200]
    body = ts_error(phone.request_code(), 413)  # per number
    assert "number" in body["message"]
    assert 1 <= int(phone.request_code().headers["Retry-After"]) <= 600
    assert client(gateway, BOB).request_code().status_code == 200
    ts_error(client(gateway, CAROL).request_code(), 413)  # per client address: 3 SMS
    response = client(gateway, CAROL).request_code()
    for _ in range(5):
        response = client(gateway, CAROL).request_code()
    ts_error(response, 413)  # the client's requests
    assert int(response.headers["Retry-After"]) >= 1


def test_the_method_budget_is_413_too(start_gateway):
    gateway = start_gateway(rate_limit_method=["1/1h"])
    assert client(gateway).request_code().status_code == 200
    response = client(gateway, BOB).request_code()
    ts_error(response, 413)
    assert int(response.headers["Retry-After"]) > 3000


def test_confirming_the_code_makes_the_account(gateway):
    phone = client(gateway)
    phone.request_code()
    code = code_of(gateway.last_sms_to(ALICE))
    assert phone.confirm(code).status_code == 200
    assert phone.register_push("gcm", "APA91b-registration").status_code == 200
    # The code is single-use: the number has no pending code any more.
    ts_error(phone.confirm(code), 401)


def test_the_code_may_be_sent_without_its_dash(gateway):
    phone = client(gateway)
    phone.request_code()
    assert phone.confirm(code_of(gateway.last_sms_to(ALICE)).replace("-", "")).status_code == 200


def test_bad_basic_credentials_are_401(gateway):
    phone = client(gateway)
    phone.request_code()
    code = code_of(gateway.last_sms_to(ALICE))
    bad = [{"auth": None}, {"auth": ("0612345678", "pw")}, {"auth": (ALICE, "")},
           {"auth": None, "headers": {"Authorization": "Basic not*base64"}},
           {"auth": None,
            "headers": {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}},
           {"auth": None, "headers": {"Authorization": "Bearer abc"}},
           {"auth": (BOB, "pw")}]  # a number the code was not sent to
    for kwargs in bad:
        ts_error(phone.confirm(code, **kwargs), 401)
    assert phone.confirm(code).status_code == 200  # none of them cost a try


def test_a_wrong_code_is_403_and_three_burn_it(gateway):
    phone = client(gateway)
    phone.request_code()
    code = code_of(gateway.last_sms_to(ALICE)).replace("-", "")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    messages = [ts_error(phone.confirm(wrong), 403)["message"] for _ in range(3)]
    assert "2 tries left" in messages[0] and "0 tries left" in messages[2]
    ts_error(phone.confirm(code), 403)  # burnt
    ts_error(phone.confirm("12345a"), 403)
    gateway.clock.advance(61)
    assert phone.request_code().status_code == 200  # a fresh code works
    assert phone.confirm(code_of(gateway.last_sms_to(ALICE))).status_code == 200


def test_codes_expire(gateway):
    phone = client(gateway)
    phone.request_code()
    code = code_of(gateway.last_sms_to(ALICE))
    gateway.clock.advance(gateway.settings.short_code_ttl + 1)
    ts_error(phone.confirm(code), 403)


def test_a_badly_formatted_confirmation_body_is_415(gateway):
    phone = client(gateway)
    phone.request_code()
    code = code_of(gateway.last_sms_to(ALICE))
    for kwargs in ({"json": {"signalingKey": "c2hvcnQ=", "supportsSms": False}},
                   {"json": {"supportsSms": False}},
                   {"json": {"signalingKey": phone.signaling_key, "supportsSms": "yes"}},
                   {"json": ["not", "an", "object"]},
                   {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
                   {"data": b"x", "headers": {"Content-Type": "text/plain"}}):
        ts_error(phone.confirm(code, **kwargs), 415)
    assert phone.confirm(code).status_code == 200


def test_registering_again_replaces_the_account(gateway):
    first = registered(gateway)
    gateway.clock.advance(61)
    second = registered(gateway)
    ts_error(first.register_push("gcm", "x"), 401)
    assert second.register_push("gcm", "x").status_code == 200


def test_push_ids_need_the_credentials_and_json(gateway):
    phone = registered(gateway)
    for kind in ("gcm", "apn"):
        assert phone.register_push(kind, f"{kind}-id").status_code == 200
        assert phone.unregister_push(kind).status_code == 200
        ts_error(phone.register_push(kind, "id", auth=(ALICE, "wrong")), 401)
        ts_error(phone.register_push(kind, "id", auth=(BOB, phone.password)), 401)
        ts_error(phone.unregister_push(kind, auth=None), 401)
        ts_error(phone.register_push(kind, "id", json={"other": 1}), 415)
        ts_error(phone.register_push(kind, "id", data=b"{", headers={
            "Content-Type": "application/json"}), 415)


def test_prekeys_are_handed_out_once_then_the_last_resort_key(gateway):
    alice, bob = registered(gateway), registered(gateway, BOB)
    assert alice.register_prekeys(count=2).status_code == 200
    fetched = [bob.fetch_prekey(ALICE).json() for _ in range(4)]
    assert fetched[:2] == alice.prekeys
    assert fetched[2] == fetched[3] == alice.last_resort_key
    ts_error(bob.fetch_prekey(CAROL), 404)
    ts_error(bob.fetch_prekey(ALICE, params={"relay": "elsewhere"}), 404)
    ts_error(bob.fetch_prekey("12345"), 400)
    ts_error(bob.fetch_prekey(ALICE, auth=(BOB, "wrong")), 401)


def test_a_registered_number_without_keys_is_404(gateway):
    registered(gateway)
    ts_error(registered(gateway, BOB).fetch_prekey(ALICE), 404)


@pytest.mark.parametrize("change", [
    lambda key: key.update(publicKey=key["publicKey"] + "=="),
    lambda key: key.update(publicKey=base64.b64encode(b"\x06" + bytes(32)).decode().rstrip("=")),
    lambda key: key.update(identityKey="short"),
    lambda key: key.update(keyId=1 << 24),
    lambda key: key.update(keyId="1"),
])
def test_badly_formatted_prekeys_are_415(gateway, change):
    phone = registered(gateway)
    keys = [phone.prekey(1)]
    change(keys[0])
    ts_error(phone.register_prekeys(json={"lastResortKey": phone.prekey(0xFFFFFF),
                                          "keys": keys}), 415)


def test_the_last_resort_key_must_have_its_id(gateway):
    phone = registered(gateway)
    ts_error(phone.register_prekeys(json={"lastResortKey": phone.prekey(7), "keys": []}), 415)
    ts_error(phone.register_prekeys(json={"lastResortKey": phone.prekey(0xFFFFFF),
                                          "keys": [phone.prekey(0xFFFFFF)]}), 415)
    ts_error(phone.register_prekeys(auth=(ALICE, "wrong")), 401)


def test_prekey_fetches_are_limited_per_account(start_gateway):
    gateway = start_gateway(rate_limit_textsecure_prekeys=["3/1h"])
    alice, bob = registered(gateway), registered(gateway, BOB)
    alice.register_prekeys()
    ts_error(bob.fetch_prekey(CAROL), 404)  # counted
    assert [bob.fetch_prekey(ALICE).status_code for _ in range(2)] == [200, 200]
    ts_error(bob.fetch_prekey(ALICE), 413)
    response = bob.fetch_prekey(CAROL)  # not a 404: misses are limited too (an oracle)
    ts_error(response, 413)
    assert int(response.headers["Retry-After"]) > 3000


def test_the_directory_answers_the_registered_contacts(gateway):
    alice, bob = registered(gateway), registered(gateway, BOB, supports_sms=True)
    response = alice.contacts([BOB, CAROL, ALICE])
    assert response.status_code == 200
    contacts = sorted(response.json()["contacts"], key=lambda c: c["token"])
    assert contacts == sorted([
        {"token": contact_token(BOB), "relay": None, "supportsSms": True},
        {"token": contact_token(ALICE), "relay": None, "supportsSms": False}],
        key=lambda c: c["token"])
    assert bob.contact(ALICE).json() == {"token": contact_token(ALICE), "relay": None,
                                          "supportsSms": False}
    ts_error(bob.contact(CAROL), 404)
    ts_error(bob.contacts([], json={"contacts": ["not a token"]}), 400)
    ts_error(bob.contacts([], json={"contacts": "x"}), 400)
    ts_error(bob.contacts([BOB], data=b"{", headers={"Content-Type": "application/json"}), 415)
    ts_error(bob.contacts([BOB], auth=(BOB, "wrong")), 401)


def test_directory_lookups_are_limited_per_account_and_day(start_gateway):
    gateway = start_gateway(textsecure_directory_daily_limit=5)
    alice = registered(gateway)
    numbers = [f"+3361234{n:04d}" for n in range(4)]
    assert alice.contacts(numbers).status_code == 200
    response = alice.contacts(numbers[:2])  # 6 > 5: refused, and not counted
    ts_error(response, 413)
    assert 1 <= int(response.headers["Retry-After"]) <= 86400
    assert alice.contacts(numbers[:1]).status_code == 200  # 5
    ts_error(alice.contact(ALICE), 413)
    gateway.clock.advance(86400)
    assert alice.contact(ALICE).status_code == 200


def test_the_message_relay_answers_501(gateway):
    phone = registered(gateway)
    for method, path in (("PUT", "/v1/messages/"), ("PUT", "/v1/messages"),
                         ("PUT", f"/v1/messages/{BOB}"), ("GET", "/v1/attachments/"),
                         ("GET", "/v1/attachments/42"), ("POST", "/v1/messages/a/b")):
        response = gateway.http.request(method, gateway.url + path, auth=phone.auth, json={},
                                        allow_redirects=False)
        assert "push services" in ts_error(response, 501)["message"]


def test_nothing_about_the_number_is_stored_in_clear(gateway):
    phone = registered(gateway, supports_sms=True)
    phone.register_push("gcm", "APA91b-secret-id")
    phone.register_prekeys()
    with closing(sqlite3.connect(gateway.settings.state_dir / "msisdn-gateway.sqlite3")) as db:
        dump = "\n".join(db.iterdump())
    for secret in (ALICE, ALICE[1:], "612345678", contact_token(ALICE), phone.password,
                   phone.signaling_key, "APA91b-secret-id"):
        assert secret not in dump
    assert "+33*******78" in dump


def test_paths_answer_with_or_without_their_trailing_slash_never_a_redirect(gateway):
    phone = registered(gateway)
    for path, body in (("/v1/accounts/gcm", {"gcmRegistrationId": "x"}),
                       ("/v1/accounts/apn/", {"apnRegistrationId": "x"}),
                       ("/v1/keys", {"lastResortKey": phone.prekey(0xFFFFFF), "keys": []})):
        response = gateway.http.put(gateway.url + path, json=body, auth=phone.auth,
                                    allow_redirects=False)
        assert response.status_code == 200, (path, response.text)
    response = gateway.http.post(gateway.url + "/v1/accounts/sms/code/" + BOB,
                                 allow_redirects=False)
    assert response.status_code == 405 and response.json()["code"] == 405


def test_a_token_holding_a_slash_is_looked_up_by_path(gateway):
    slashed = "+33612345601"  # its token is MfskIt9/jWBHUQ
    assert "/" in contact_token(slashed)
    registered(gateway, slashed)
    bob = registered(gateway, BOB)
    for token in (contact_token(slashed), contact_token(slashed).replace("/", "%2F")):
        response = gateway.http.get(f"{gateway.url}/v1/directory/{token}", auth=bob.auth)
        assert response.json()["token"] == contact_token(slashed)


def test_no_number_token_or_secret_reaches_the_database_files(gateway):
    phone = registered(gateway, supports_sms=True)
    phone.register_push("apn", "apn-secret-id-0123")
    gateway.engine.dispose()  # nothing held back in a connection
    raw = b"".join(path.read_bytes() for path in gateway.settings.state_dir.glob(
        "msisdn-gateway.sqlite3*"))
    for secret in (ALICE, ALICE[1:], contact_token(ALICE), phone.password,
                   phone.signaling_key, base64.b64decode(phone.signaling_key),
                   "apn-secret-id-0123"):
        needle = secret if isinstance(secret, bytes) else secret.encode()
        assert needle not in raw


def test_wrong_passwords_are_limited_per_client_without_locking_the_account(start_gateway):
    gateway = start_gateway(rate_limit_textsecure_password_checks=["3/1h"])
    alice = registered(gateway)
    assert alice.register_push("gcm", "id").status_code == 200  # 1 scrypt check, remembered
    for _ in range(2):
        ts_error(alice.register_push("gcm", "id", auth=(ALICE, "guess")), 401)
    response = alice.register_push("gcm", "id", auth=(ALICE, "guess"))
    ts_error(response, 413)  # no scrypt any more for this client
    assert int(response.headers["Retry-After"]) > 3000
    assert alice.register_push("gcm", "id").status_code == 200  # a known password: no check
    ts_error(alice.register_push("gcm", "id", auth=(BOB, "no account")), 413)  # counted too


def test_a_number_without_an_account_counts_against_the_password_checks_too(start_gateway):
    # Otherwise the status is an oracle: past the limit a registered number answers 413
    # and an unknown one 401.
    gateway = start_gateway(rate_limit_textsecure_password_checks=["3/1h"])
    alice, stranger = registered(gateway), client(gateway, BOB)
    assert alice.register_push("gcm", "id").status_code == 200  # 1, remembered
    for _ in range(2):
        ts_error(stranger.register_push("gcm", "id"), 401)  # 2, 3
    ts_error(stranger.register_push("gcm", "id"), 413)
    ts_error(alice.register_push("gcm", "id", auth=(ALICE, "guess")), 413)  # the same answer
    assert alice.register_push("gcm", "id").status_code == 200  # a known password: no check


def test_a_number_without_an_account_costs_the_scrypt_of_a_wrong_password(gateway,
                                                                         monkeypatch):
    # Otherwise the time is an oracle: ~50 ms for a registered number, ~3 ms for another.
    registered(gateway)
    real_scrypt, calls = crypto_passwords._scrypt, []

    def counted_scrypt(*args, **kwargs):
        calls.append(args[2:])  # the cost: log2 N, r, p
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(crypto_passwords, "_scrypt", counted_scrypt)
    ts_error(client(gateway, ALICE).register_push("gcm", "id"), 401)  # a wrong password
    ts_error(client(gateway, BOB).register_push("gcm", "id"), 401)  # no account
    assert calls == [(14, 8, 1), (14, 8, 1)]


def test_registering_again_keeps_the_days_directory_lookups(start_gateway):
    gateway = start_gateway(textsecure_directory_daily_limit=3)
    alice = registered(gateway)
    assert alice.contacts([BOB, CAROL, ALICE]).status_code == 200
    ts_error(alice.contact(ALICE), 413)
    gateway.clock.advance(61)
    again = registered(gateway)  # a new account of the same number
    ts_error(again.contact(ALICE), 413)
    gateway.clock.advance(86400)
    assert again.contact(ALICE).status_code == 200


def test_a_client_exempt_from_the_rate_limits_gets_every_call_answered(start_gateway):
    # An exempt client (a known backend) writes no client counter first, so a call's
    # first statement is the password's account lookup: it must not leave the request's
    # one transaction read-only for the write that follows (it answered 500).
    gateway = start_gateway(rate_limit_exempt_networks=["127.0.0.0/8", "::1/128"])
    alice, bob = registered(gateway), registered(gateway, BOB)
    assert alice.register_push("gcm", "id").status_code == 200
    assert alice.unregister_push("gcm").status_code == 200
    assert alice.register_prekeys().status_code == 200
    assert bob.fetch_prekey(ALICE).status_code == 200
    assert bob.contacts([ALICE, CAROL]).json()["contacts"][0]["token"] == contact_token(ALICE)
    assert bob.contact(ALICE).status_code == 200


def test_a_lookup_by_an_account_removed_meanwhile_is_refused_not_a_crash(gateway):
    # On PostgreSQL a concurrent registration or `accounts remove` can take the account
    # away between the password check and the count of the lookup: the count finds no row.
    from gateway.verification import account_keys, accounts

    alice = registered(gateway)
    stale = accounts.authenticate(gateway.deps, ALICE, alice.password, None)
    with gateway.deps.uow() as uow:
        uow.accounts.delete(accounts.number_digest(gateway.deps, ALICE))
        uow.commit()
    with pytest.raises(accounts.BadCredentials):
        account_keys.look_up(gateway.deps, stale, [contact_token(ALICE)])
