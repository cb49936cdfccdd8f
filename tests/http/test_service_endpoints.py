"""Root, heartbeats, BrowserID support document and discover."""
from gateway import __version__

from conftest import assert_error


def test_root_names_the_service_its_version_and_public_endpoint(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org")
    assert gw.get("/").json() == {"name": "msisdn-gateway", "version": __version__,
                                  "endpoint": "https://verify.example.org"}


def test_heartbeats_report_each_dependency(gateway):
    assert gateway.get("/__lbheartbeat__").status_code == 200
    response = gateway.get("/__heartbeat__")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "modems": "ok"}


def test_the_heartbeat_fails_without_a_healthy_modem(start_gateway):
    gw = start_gateway(modems=0)
    gw.publish_modem("m0", healthy=False, state="gone")
    response = gw.get("/__heartbeat__")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["modems"] != "ok"


def test_the_browserid_support_document_publishes_the_key_and_a_warning_page(gateway):
    document = gateway.get("/.well-known/browserid").json()
    assert document["public-key"]["algorithm"] == "RS"
    assert int(document["public-key"]["n"]).bit_length() == 2048
    assert document["authentication"] == document["provisioning"]
    page = gateway.get(document["authentication"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "not a sign-in page" in page.text


def test_a_body_over_the_configured_limit_is_refused_before_it_is_read(start_gateway):
    gw = start_gateway(max_body_bytes=100)
    assert_error(gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01", "x": "y" * 100}),
                 413, 113)
    assert gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"}).status_code == 200
