"""batch-rpc's Python client: PyTorch modules trained against the parameter server over gRPC.

Importable from the repository with Debian's packages (python3-torch, python3-grpcio,
python3-grpc-tools, python3-protobuf): put ``clients/python`` on ``sys.path``. The gRPC stubs are
generated into ``batchrpc/v1`` on first import (or by ``clients/python/generate_stubs.sh``).
"""
from .errors import (BatchRpcError, BadRequest, ShapeMismatch, NonFinite, UnknownParticipant, Duplicate,
                     VersionMismatch, StaleVersion, FutureVersion, TooLarge, RoundTimeout, BatchFailed,
                     Unavailable, LayoutMismatch)
from .ps import ParameterServerClient, Tls

__all__ = ["ParameterServerClient", "Tls", "BatchRpcError", "BadRequest", "ShapeMismatch", "NonFinite",
           "UnknownParticipant", "Duplicate", "VersionMismatch", "StaleVersion", "FutureVersion", "TooLarge",
           "RoundTimeout", "BatchFailed", "Unavailable", "LayoutMismatch"]
