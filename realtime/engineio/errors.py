"""The reference Engine.IO server's HTTP errors: `{"code", "message"}` with status 400/403."""

from enum import IntEnum


class HandshakeError(IntEnum):
    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def status(self) -> int:
        return 403 if self is HandshakeError.FORBIDDEN else 400


_MESSAGES = {
    HandshakeError.UNKNOWN_TRANSPORT: "Transport unknown",
    HandshakeError.UNKNOWN_SID: "Session ID unknown",
    HandshakeError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    HandshakeError.BAD_REQUEST: "Bad request",
    HandshakeError.FORBIDDEN: "Forbidden",
    HandshakeError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}
