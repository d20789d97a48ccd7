"""Refusals as exceptions a program can act on.

Every refusal of a batch-rpc service carries, besides the gRPC status and its text, a
``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer with one ``google.rpc.ErrorInfo``:
``reason`` is the failure code's name (``DUPLICATE``, ``STALE_VERSION``, ...), ``domain`` is
``batchrpc.v1`` and ``metadata`` holds ``failure_code`` plus details (``limit_bytes``,
``request_version``, ``server_version``, ...). :func:`from_rpc_error` maps it to one exception
class per reason (see docs/bad-input.md for the table).
"""
import grpc

DOMAIN = "batchrpc.v1"
DETAILS_KEY = "grpc-status-details-bin"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


class BatchRpcError(Exception):
    """A refusal or failure of a batch-rpc call.

    Attributes: ``reason`` (the failure code's name, or None when the server sent no details),
    ``status`` (the ``grpc.StatusCode``), ``message`` (the server's text) and ``metadata`` (a dict
    of str; ``failure_code`` and the reason's details).
    """
    reason = None

    def __init__(self, message, status=None, metadata=None, reason=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.metadata = dict(metadata or {})
        if reason is not None:
            self.reason = reason

    def __str__(self):
        head = self.reason or (self.status.name if self.status is not None else "ERROR")
        return "%s: %s" % (head, self.message)

    def _int(self, key):
        v = self.metadata.get(key)
        return int(v) if v is not None else None


class BadRequest(BatchRpcError):
    """The request is malformed (undecodable, a missing field, a value out of range)."""
    reason = "BAD_REQUEST"


class ShapeMismatch(BatchRpcError):
    """A tensor of the wrong length or shape."""
    reason = "SHAPE_MISMATCH"


class NonFinite(BatchRpcError):
    """NaN or infinity where finite numbers are required (the gradient never joined the round)."""
    reason = "NON_FINITE"


class UnknownParticipant(BatchRpcError):
    """The participant id is not one of the round's (register by fetching the model with it)."""
    reason = "UNKNOWN_PARTICIPANT"


class Duplicate(BatchRpcError):
    """A second request from this participant in the open round."""
    reason = "DUPLICATE"


class VersionMismatch(BatchRpcError):
    """The gradients were computed on another model version: fetch the model and recompute.

    ``request_version`` and ``server_version`` are ints (or None when the server did not say).
    """

    request_version = property(lambda self: self._int("request_version"))
    server_version = property(lambda self: self._int("server_version"))


class StaleVersion(VersionMismatch):
    """The caller's version is older than the server's: it missed a round."""
    reason = "STALE_VERSION"


class FutureVersion(VersionMismatch):
    """The caller's version is newer than the server's: the server went back to an older checkpoint."""
    reason = "FUTURE_VERSION"


class TooLarge(BatchRpcError):
    """A message over the server's size limit; ``limit_bytes`` says the limit when known."""
    reason = "TOO_LARGE"

    limit_bytes = property(lambda self: self._int("limit_bytes"))


class RoundTimeout(BatchRpcError):
    """The round closed on its maximum wait without this request."""
    reason = "ROUND_TIMEOUT"


class BatchFailed(BatchRpcError):
    """The round's computation failed on the server; the next round is unaffected."""
    reason = "BATCH_FAILED"


class Unavailable(BatchRpcError):
    """The service is starting, stopping or unreachable: retry with backoff."""
    reason = "UNAVAILABLE"


class LayoutMismatch(BatchRpcError):
    """A module's parameters do not match the server's model layout: found by the client before
    anything is sent, or by the server for an ``InitModel`` of another layout (``layout_id``, the
    server's, and ``request_layout_id`` are then in ``metadata``)."""
    reason = "LAYOUT_MISMATCH"


class AlreadyInitialized(BatchRpcError):
    """``InitModel`` on a server that already holds a model of the same layout (the first writer
    won, or the server started with it): fetch the model instead. ``model_version`` is its version."""
    reason = "ALREADY_INITIALIZED"

    model_version = property(lambda self: self._int("model_version"))


_BY_REASON = {c.reason: c for c in (BadRequest, ShapeMismatch, NonFinite, UnknownParticipant, Duplicate,
                                    StaleVersion, FutureVersion, TooLarge, RoundTimeout, BatchFailed,
                                    Unavailable, LayoutMismatch, AlreadyInitialized)}


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a protobuf message: varints as int, length-delimited as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = bytes(buf[i:i + n]), i + n
        elif wire == 1:
            value, i = bytes(buf[i:i + 8]), i + 8
        elif wire == 5:
            value, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield number, wire, value


def error_info(status_details):
    """The (reason, domain, metadata) of the ErrorInfo in a serialized google.rpc.Status, or None.

    Decoded by hand (three small messages), so no googleapis-common-protos package is needed.
    """
    try:
        for number, wire, value in _fields(status_details):
            if number != 3 or wire != 2:  # Status.details: repeated google.protobuf.Any
                continue
            any_fields = {n: v for n, w, v in _fields(value)}
            if any_fields.get(1, b"").decode("utf-8") != ERROR_INFO_TYPE:
                continue
            reason, domain, metadata = "", "", {}
            for n, w, v in _fields(any_fields.get(2, b"")):
                if n == 1:
                    reason = v.decode("utf-8")
                elif n == 2:
                    domain = v.decode("utf-8")
                elif n == 3:
                    entry = {en: ev.decode("utf-8") for en, ew, ev in _fields(v)}
                    metadata[entry.get(1, "")] = entry.get(2, "")
            return reason, domain, metadata
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def from_rpc_error(e):
    """The :class:`BatchRpcError` subclass for a ``grpc.RpcError`` (the reason's class when the server
    said it, else by status: ``Unavailable`` for UNAVAILABLE, ``BatchRpcError`` otherwise)."""
    status = e.code() if hasattr(e, "code") else None
    message = e.details() if hasattr(e, "details") else str(e)
    details = None
    trailing = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == DETAILS_KEY:
            details = error_info(value if isinstance(value, bytes) else value.encode("latin-1"))
    if details is not None and details[1] == DOMAIN:
        reason, _, metadata = details
        cls = _BY_REASON.get(reason, BatchRpcError)
        return cls(message, status=status, metadata=metadata, reason=reason)
    if status == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(message, status=status)
    return BatchRpcError(message, status=status)
