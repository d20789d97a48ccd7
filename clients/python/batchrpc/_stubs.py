"""Makes sure the generated stubs (batchrpc/v1/*_pb2*.py) exist and are not older than the protos."""
import os
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_V1 = os.path.join(_HERE, "v1")
_PROTO = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "shared-proto", "src", "main", "proto",
                                       "batchrpc", "v1"))
_SCRIPT = os.path.normpath(os.path.join(_HERE, "..", "generate_stubs.sh"))


def _stale():
    generated = os.path.join(_V1, "__init__.py")  # written last by the script
    if not os.path.exists(generated):
        return True
    if not os.path.isdir(_PROTO):  # installed without the repo: use what is there
        return False
    newest = max(os.path.getmtime(os.path.join(_PROTO, f)) for f in os.listdir(_PROTO) if f.endswith(".proto"))
    return os.path.getmtime(generated) < newest


def ensure():
    """Generates the stubs with grpc_tools when missing or stale; a clear ImportError otherwise.
    Processes starting together take turns (a lock file), so none imports half-written stubs."""
    if not _stale():
        return
    import fcntl
    with open(os.path.join(_HERE, ".stubs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stale():
            _generate()


def _generate():
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        raise ImportError("batchrpc: the generated gRPC stubs are missing and grpc_tools is not installed: "
                          "apt-get install python3-grpc-tools python3-protobuf, then run " + _SCRIPT)
    result = subprocess.run(["bash", _SCRIPT], env=dict(os.environ, BATCHRPC_PYTHON=sys.executable),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ImportError("batchrpc: generating the gRPC stubs failed (" + _SCRIPT + "):\n" + result.stderr)
