"""The errors this client raises: each names what happened, with the node's reason code where there is one."""

from __future__ import annotations


class LockstepError(Exception):
    """Base class of every error this package raises."""


class MalformedFrame(LockstepError):
    """A node sent a frame that breaks docs/protocol.md; the connection it came on is dropped."""


class Refused(LockstepError):
    """A node refused a frame (REJECT on /trade, ERROR on /feed): nothing happened."""

    def __init__(self, code: int, msg: str) -> None:
        from .wire import WireReason

        try:
            name = WireReason(code).name
        except ValueError:
            name = str(code)
        super().__init__(f"{name} ({code}): {msg}")
        self.code = code
        self.reason = msg


class LoginRefused(Refused):
    """HELLO was refused (NOT_AUTHENTICATED, ALREADY_LOGGED_IN, NOT_LEADER …)."""


class ConnectionLost(LockstepError):
    """The connection closed with this request outstanding: it may or may not have been sequenced.

    Resend a NEW with the same client order id to learn which (docs/protocol.md, "Client order
    ids"); anything else, look for it in the execution reports.
    """

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message if close_code is None else f"{message} (close code {close_code})")
        self.close_code = close_code


class ReportsLost(LockstepError):
    """No replica can resume the reports from where this client is: some would be missing."""
