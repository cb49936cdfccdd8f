"""The webhook POST over TLS (gateway.pipeline.webhooks.post): it connects to the address
that was checked, verifies the certificate against the URL's host name, refuses one
that does not match, and gives up on an answer dripped slower than its deadline. A test
CA made with `cryptography`, trusted through SSL_CERT_FILE."""
from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.pipeline.webhooks import post
from gateway.verification.webhooks import Destination

from test_webhook_deadline import DripReceiver

HOST = "hooks.example"


def _cert(subject, issuer_name, key, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def server_context(tmp_path, monkeypatch):
    """A server-side TLS context for HOST, its CA trusted by the webhook POST."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = _cert(ca_name, ca_name, ca_key, ca_key, True)
    leaf = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]), ca_name, key,
                 ca_key, False)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "leaf.pem")
    return context


@pytest.fixture
def tls_receiver(server_context):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers["Host"],
                         self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.server_port, seen
    server.shutdown()
    server.server_close()


def test_posts_to_the_checked_address_with_the_certificate_of_the_host(tls_receiver):
    port, seen = tls_receiver
    status = post(Destination("https", HOST, port, "127.0.0.1", "/hooks?x=1"),
                  {"Content-Type": "application/json"}, b'{"a":1}', 5)
    assert status == 204
    assert seen == [("/hooks?x=1", f"{HOST}:{port}", b'{"a":1}')]


def test_a_certificate_of_another_host_is_refused(tls_receiver):
    port, seen = tls_receiver
    with pytest.raises(ssl.SSLCertVerificationError):
        post(Destination("https", "other.example", port, "127.0.0.1", "/"), {}, b"{}", 5)
    assert seen == []


def test_an_answer_dripped_over_tls_fails_at_the_deadline(server_context):
    drip = DripReceiver(wrap=lambda sock: server_context.wrap_socket(sock, server_side=True))
    try:
        # The whole answer would come in ~4 s: read per read, it was a 200.
        with pytest.raises(TimeoutError):
            post(Destination("https", HOST, drip.port, "127.0.0.1", "/"), {}, b"{}", 0.5)
        assert drip.requests == 1
    finally:
        drip.close()
