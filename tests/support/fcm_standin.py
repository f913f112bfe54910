"""A local stand-in for Google's OAuth token endpoint and the FCM HTTP v1 send endpoint.

firebase-admin's real client talks to it: the service-account JSON written by
`write_service_account` points `token_uri` here, and the push backend's `FCM_API_BASE` points
the messages:send calls here. Every request is recorded for the test to inspect.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
TOKEN_PATH = "/token"

UNREGISTERED_BODY = {
    "error": {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED",
            }
        ],
    }
}


@dataclass
class SentMessage:
    """One messages:send request as the stand-in received it."""

    project: str
    authorization: str
    body: dict[str, Any]

    @property
    def token(self) -> str:
        return self.body["message"]["token"]


@dataclass
class StandInState:
    access_token: str = field(default_factory=lambda: "ya29.standin-" + secrets.token_hex(8))
    invalid_tokens: set[str] = field(default_factory=set)
    # other per-token answers: token -> (HTTP status, JSON body)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == TOKEN_PATH:
            self._token(raw)
        elif match := SEND_PATH.match(self.path):
            self._send(match["project"], raw)
        else:
            self._answer(404, {"error": {"code": 404, "message": "no such path"}})

    def _token(self, raw: bytes) -> None:
        form = urllib.parse.parse_qs(raw.decode())
        state = self.server.state
        with state.lock:
            state.token_requests.append(form)
        if "assertion" not in form:
            self._answer(400, {"error": "invalid_request"})
            return
        token = {"access_token": state.access_token, "expires_in": 3600, "token_type": "Bearer"}
        self._answer(200, token)

    def _send(self, project: str, raw: bytes) -> None:
        state = self.server.state
        message = SentMessage(project, self.headers.get("Authorization", ""), json.loads(raw))
        with state.lock:
            state.sent.append(message)
        if message.authorization != f"Bearer {state.access_token}":
            self._answer(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        elif message.token in state.invalid_tokens:
            self._answer(404, UNREGISTERED_BODY)
        elif message.token in state.replies:
            self._answer(*state.replies[message.token])
        else:
            self._answer(200, {"name": f"projects/{project}/messages/{len(state.sent)}"})

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StandInState


class FcmStandIn:
    """The stand-in server on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self) -> None:
        self.state = StandInState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return self.url + TOKEN_PATH

    def start(self) -> FcmStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def write_service_account(path: Path, *, project_id: str, token_uri: str) -> Path:
    """A service-account JSON with a throwaway RSA key, whose token_uri is the stand-in."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"push-test@{project_id}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(account))
    return path


def firebase_env(standin: FcmStandIn, directory: Path, *, project_id: str) -> dict[str, str]:
    """A server's environment pushing through firebase-admin to `standin` (its service account
    written in `directory`)."""
    account = directory / "service-account.json"
    write_service_account(account, project_id=project_id, token_uri=standin.token_uri)
    return {
        "PUSH_BACKEND": "firebase",
        "FCM_CREDENTIALS": str(account),
        "FCM_API_BASE": standin.url,
    }
