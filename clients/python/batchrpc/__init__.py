"""batch-rpc's Python client: PyTorch modules trained against the parameter server, and Python
environments served as the agent's observers, over gRPC.

Importable from the repository with Debian's packages (python3-torch, python3-grpcio,
python3-grpc-tools, python3-protobuf): put ``clients/python`` on ``sys.path``. The gRPC stubs are
generated into ``batchrpc/v1`` on first use (or by ``clients/python/generate_stubs.sh``). Names
are loaded on first access, so ``batchrpc.envs`` and ``batchrpc.safetensors`` need no gRPC.
"""
import importlib

from . import _stubs

# Stubs older than the protos are regenerated here, before anything can import batchrpc.v1 (a
# script that imports batchrpc.v1.ps_pb2 itself would otherwise keep the stale module). Without
# grpc_tools nothing is generated: the gRPC parts say so when used, envs and safetensors need none.
try:
    _stubs.ensure()
except ImportError:
    pass

_EXPORTS = {
    "ParameterServerClient": "ps", "Tls": "ps",
    "ObserverServer": "observer", "serve_observers": "observer",
    "BatchRpcError": "errors", "BadRequest": "errors", "ShapeMismatch": "errors", "NonFinite": "errors",
    "UnknownParticipant": "errors", "Duplicate": "errors", "VersionMismatch": "errors",
    "StaleVersion": "errors", "FutureVersion": "errors", "TooLarge": "errors", "RoundTimeout": "errors",
    "BatchFailed": "errors", "Unavailable": "errors", "LayoutMismatch": "errors", "AlreadyInitialized": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'batchrpc' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
