"""Silent authentication (issue 14) end to end over `serve --simulate`: an app registered
with `msisdn-gateway clients add --webhook-url`, virtual phones that send the SMS of the
link page through /__sim__ or open the URL of the SMS they received, verify/code, the
seed's error codes and each of its rate limits, and a webhook receiver on 127.0.0.1 that checks each signature and
processes each event once (by its Webhook-Id), also when the worker is killed with
SIGKILL in the middle of a delivery."""
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import threading
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from processes import SCRIPT, clean_environment, eventually, start_serve, stop, worker_pid

REDIRECT = "https://app.example/sna/done"
ENV = {"MSISDN_GATEWAY_WEBHOOK_ALLOW_PRIVATE": "true",
       "MSISDN_GATEWAY_WEBHOOK_TIMEOUT": "1", "MSISDN_GATEWAY_WEBHOOK_RETRY_BACKOFF": "1",
       "MSISDN_GATEWAY_SNA_REQUEST_TTL": "60"}


class Receiver:
    """The app's webhook endpoint: checks the signature of every POST (401 if wrong),
    processes each Webhook-Id once; ``hold`` makes the next POST wait until released."""

    def __init__(self):
        self.secret = None
        self.deliveries, self.processed, self.bad = [], {}, 0
        self.hold, self.held, self.release = False, threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(self.headers["Webhook-Id"])
                if receiver.hold:
                    receiver.hold = False
                    receiver.held.set()
                    receiver.release.wait(60)  # the worker is killed meanwhile
                    return  # the connection closes without an answer
                mac = hmac.new(receiver.secret.encode(),
                               self.headers["Webhook-Timestamp"].encode() + b"." + body,
                               hashlib.sha256).hexdigest()
                if not hmac.compare_digest("v1=" + mac, self.headers["Webhook-Signature"]):
                    receiver.bad += 1
                    self.send_response(401)
                else:
                    receiver.processed.setdefault(self.headers["Webhook-Id"], json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def event_of(self, request_id):
        return eventually(lambda: [e for e in self.processed.values()
                                   if e["requestId"] == request_id], timeout=30)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def add_client(state, webhook):
    added = subprocess.run(
        [str(SCRIPT), "clients", "add", "Shop", "--redirect-uri", REDIRECT, "--webhook-url",
         webhook, "--json", "--state-dir", str(state)], capture_output=True, text=True,
        check=True, env=clean_environment())
    client = json.loads(added.stdout)
    return {"clientId": client["client_id"], "clientSecret": client["client_secret"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    receiver = Receiver()
    state = tmp_path_factory.mktemp("state")
    process, url = start_serve(state, "--simulate", env=ENV)
    headers = add_client(state, receiver.url)
    receiver.secret = requests.get(url + "/auth/v1/webhook/secret",
                                   headers=headers).json()["signingSecret"]
    yield url, headers, receiver
    stop(process)
    receiver.close()


def local(url, link):
    parts = urlsplit(link)
    return url + link[len(parts.scheme) + 3 + len(parts.netloc):]


def initiate(url, headers, phone, **body):
    return requests.post(url + "/auth/v1/initiate/sna", headers=headers,
                         json={"phoneNumber": phone[1:], "redirectURI": REDIRECT, **body})


def link_page(url, link):
    page = requests.get(local(url, link))
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    sms = re.findall(r'href="(sms:[^"]*)"', page.text)
    [cont] = re.findall(r'id="continue" href="([^"]*)"', page.text)
    return (unescape(sms[0]) if sms else None), url + unescape(cont)


def phone_sends(url, phone, sms_href):
    to, body = sms_href[4:].split("?body=")
    response = requests.post(f"{url}/__sim__/phones/{phone}/messages",
                             json={"to": to, "text": unquote(body)})
    assert response.status_code == 202, response.text


def code_after(url, cont):
    """Follow the page's continue link once the proof arrived: the code and requestId."""
    def redirected():
        answer = requests.get(cont, allow_redirects=False)
        return answer if answer.status_code == 302 else None
    location = eventually(redirected, timeout=30, interval=0.2).headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["requestId"][0]


def verify(url, headers, code):
    return requests.post(url + "/auth/v1/verify/code", headers=headers, json={"code": code})


def test_the_sms_mo_proof_verifies_the_number_and_the_webhook_tells_the_app(served):
    url, headers, receiver = served
    phone = "+33612345611"
    begun = initiate(url, headers, phone).json()
    sms, cont = link_page(url, begun["link"])
    phone_sends(url, phone, sms)
    code, request_id = code_after(url, cont)
    assert request_id == begun["requestId"]
    body = verify(url, headers, code).json()
    assert body["message"] == "SUCCESS"
    [identity] = body["userDetails"]["identities"]
    assert (identity["identityValue"], identity["verified"], identity["methods"]) == (
        phone[1:], True, ["SMS_MO"])
    assert verify(url, headers, code).json()["errorCode"] == "7109"  # single use
    [event] = receiver.event_of(request_id)
    assert (event["event"], event["status"]) == ("sna.verified", "SUCCESS")
    assert receiver.bad == 0


def test_the_sms_link_proof_with_the_url_the_phone_received(served):
    url, headers, receiver = served
    phone = "+33612345612"
    begun = initiate(url, headers, phone, proof="sms_link").json()
    sms, cont = link_page(url, begun["link"])
    assert sms is None
    inbox = eventually(lambda: requests.get(f"{url}/__sim__/phones/{phone}/messages").json(),
                       timeout=30)
    [link] = re.findall(r"https?://\S+", inbox[0]["text"])
    link = local(url, link)
    shown = requests.get(link)  # what a link preview sees: proves nothing
    assert shown.status_code == 200 and 'id="confirm"' in shown.text
    assert requests.get(url + "/auth/v1/status/sna", headers=headers,
                        params={"requestId": begun["requestId"]}).json()["status"] == "PENDING"
    confirmed = requests.post(link, allow_redirects=False)  # the holder taps Confirm
    assert confirmed.status_code == 302, confirmed.text
    query = parse_qs(urlsplit(confirmed.headers["Location"]).query)
    code, request_id = query["code"][0], query["requestId"][0]
    assert 'id="done"' in requests.get(cont).text  # the page that waited gets no code
    body = verify(url, headers, code).json()
    assert body["userDetails"]["identities"][0]["methods"] == ["SMS_LINK"]
    assert body["userDetails"]["identities"][0]["verified"] is True
    assert requests.get(url + "/auth/v1/status/sna", headers=headers,
                        params={"requestId": request_id}).json()["status"] == "SUCCESS"


def test_an_sms_from_another_phone_fails_the_request(served):
    url, headers, receiver = served
    begun = initiate(url, headers, "+33612345613").json()
    sms, cont = link_page(url, begun["link"])
    phone_sends(url, "+33612345614", sms)
    code, request_id = code_after(url, cont)
    body = verify(url, headers, code)
    assert body.status_code == 200
    assert (body.json()["message"], body.json()["errorCode"]) == ("USER_VERIFICATION_FAILED",
                                                                  "7128")
    [event] = receiver.event_of(request_id)
    assert event["event"] == "sna.failed" and event["errorCode"] == "7128"


def test_a_request_expires(tmp_path):
    receiver = Receiver()  # a gateway of its own, whose requests live 2 s
    process, url = start_serve(tmp_path, "--simulate",
                               env={**ENV, "MSISDN_GATEWAY_SNA_REQUEST_TTL": "2"})
    try:
        headers = add_client(tmp_path, receiver.url)
        begun = initiate(url, headers, "+33612345615").json()
        page_status = local(url, begun["link"]) + "/status"  # what the page polls
        assert requests.get(page_status).json()["status"] == "pending"
        eventually(lambda: requests.get(page_status).json()["status"] == "failed",
                   timeout=30, interval=0.2)
        failed = requests.get(url + "/auth/v1/status/sna", headers=headers,
                              params={"requestId": begun["requestId"]}).json()
        assert (failed["status"], failed["errorCode"]) == ("FAILED", "7130")
    finally:
        stop(process)
        receiver.close()


@pytest.mark.parametrize("change, status, code", [
    ({"headers": {}}, 401, "7012"), ({"headers": {"clientId": "gw_x", "clientSecret": "y"}},
                                     401, "7002"),
    ({"phone": "+336"}, 400, "7102"), ({"redirectURI": "https://evil.example/"}, 400, "7108"),
    ({"mcc": "208"}, 400, "7126"), ({"mcc": "234", "mnc": "15"}, 400, "7127"),
    ({"phone": "+12015550123"}, 400, "7125")])
def test_each_error_code_in_the_seed_shape(served, change, status, code):
    url, headers, _receiver = served
    change = dict(change)
    answer = initiate(url, change.pop("headers", headers), change.pop("phone", "+33612345616"),
                      **change)
    assert answer.status_code == status, answer.text
    assert answer.json()["errorCode"] == code and answer.json()["message"]


def test_each_webhook_is_processed_once_when_the_worker_is_killed_mid_delivery(tmp_path):
    receiver = Receiver()
    serve, url = start_serve(tmp_path, "--simulate", env=ENV)
    try:
        headers = add_client(tmp_path, receiver.url)
        receiver.secret = requests.get(url + "/auth/v1/webhook/secret",
                                       headers=headers).json()["signingSecret"]
        receiver.hold = True
        phone = "+33612345617"
        begun = initiate(url, headers, phone).json()
        sms, cont = link_page(url, begun["link"])
        phone_sends(url, phone, sms)
        assert receiver.held.wait(30), "the webhook never came"
        os.kill(worker_pid(serve), signal.SIGKILL)
        serve.wait(60)
        serve.stdout.close()
        receiver.release.set()
        serve, url = start_serve(tmp_path, "--simulate", env=ENV)
        [event] = receiver.event_of(begun["requestId"])
        assert event["status"] == "SUCCESS"
        first = receiver.deliveries[0]
        assert receiver.deliveries.count(first) >= 2  # delivered again after the kill
        assert list(receiver.processed) == [first] and receiver.bad == 0
    finally:
        stop(serve)
        receiver.close()


LIMITS = {"MSISDN_GATEWAY_RATE_LIMIT_SNA_IDENTITY": "1/1h",
          "MSISDN_GATEWAY_RATE_LIMIT_SNA_APPLICATION": "3/1h",
          "MSISDN_GATEWAY_RATE_LIMIT_SNA_IP": "2/1h",
          "MSISDN_GATEWAY_RATE_LIMIT_SNA_TOTAL": "5/1h",
          "MSISDN_GATEWAY_RATE_LIMIT_SNA_AUTHENTICATION": "2/15m",
          "MSISDN_GATEWAY_TRUSTED_PROXIES": "127.0.0.0/8"}  # X-Forwarded-For names the IP


def test_each_rate_limit_answers_429_with_its_code_and_retry_after(tmp_path):
    serve, url = start_serve(tmp_path, "--simulate", env=LIMITS)
    try:
        shop, other = (add_client(tmp_path, "https://app.example/hooks") for _ in range(2))

        def start(client, phone, ip):
            return requests.post(
                url + "/auth/v1/initiate/sna", json={"phoneNumber": phone,
                                                     "redirectURI": REDIRECT},
                headers={**client, "X-Forwarded-For": ip})

        def refused(answer, code):
            assert answer.status_code == 429, answer.text
            body = answer.json()
            assert body["errorCode"] == code and body["retryAfter"] > 0, body
            assert answer.headers["Retry-After"] == str(body["retryAfter"])

        first = start(shop, "33612345621", "198.51.100.1").json()
        refused(start(shop, "33612345621", "198.51.100.2"), "7021")  # the same number
        assert start(shop, "33612345622", "198.51.100.1").status_code == 200
        for _ in range(2):
            assert requests.get(url + "/auth/v1/status/sna", headers=shop,
                                params={"requestId": first["requestId"]}).status_code == 200
        refused(requests.get(url + "/auth/v1/status/sna", headers=shop,
                             params={"requestId": first["requestId"]}), "7020")
        refused(start(shop, "33612345623", "198.51.100.1"), "7022")  # the same address
        assert start(shop, "33612345623", "198.51.100.2").status_code == 200
        refused(start(shop, "33612345624", "198.51.100.3"), "7023")  # the same application
        assert start(other, "33612345624", "198.51.100.3").status_code == 200
        assert start(other, "33612345625", "198.51.100.4").status_code == 200
        refused(start(other, "33612345626", "198.51.100.5"), "7024")  # the whole box
    finally:
        stop(serve)
