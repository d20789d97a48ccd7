#!/usr/bin/python3
"""InitModel from Python against a server started with --model init (one trainer, --max-params
MAX): refusals before the model exists, bad modules, two clients racing with the same layout,
another layout; prints one JSON object. Run by the Java test PythonClientTest.
    init_check.py TARGET MAX"""
import json
import os
import sys
import threading

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import batchrpc  # noqa: E402
from batchrpc.v1 import ps_pb2, tensor_pb2  # noqa: E402

target, limit = sys.argv[1], int(sys.argv[2])
out = {}


class Cnn(torch.nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(channels * 4 * 4, 3)


class Params(torch.nn.Module):
    """A module of the given parameters (to make the bad ones torch allows)."""

    def __init__(self, **tensors):
        super().__init__()
        for name, t in tensors.items():
            self.register_parameter(name, torch.nn.Parameter(t))


def record(case, fn):
    try:
        out[case] = {"exception": None, "result": fn()}
    except batchrpc.BatchRpcError as e:
        out[case] = {"exception": type(e).__name__, "reason": e.reason, "metadata": e.metadata,
                     "status": e.status.name if e.status is not None else None, "message": e.message}


def still_empty():
    try:
        batchrpc.ParameterServerClient(target, "").fetch()
        return "the server has a model"
    except batchrpc.Unavailable as e:
        return e.metadata.get("model")


client = batchrpc.ParameterServerClient(target, "py-init")
record("fetch-before-init", lambda: client.fetch())
nan = Params(w=torch.ones(3, 2))
with torch.no_grad():
    nan.w[1, 0] = float("nan")
bad = {
    "zero-dimension": Params(w=torch.zeros(0, 3)),
    "non-finite": nan,
    "too-large": Params(w=torch.zeros(limit + 1)),
    "no-parameters": torch.nn.ReLU(),
}
for case, module in bad.items():
    record(case, lambda m=module: client.init_model(m))
    out[case]["after"] = still_empty()


def raw_init(tensors, values):
    return client._call(client._stub.InitModel, ps_pb2.InitModelRequest(
        participant_id="py-raw", tensors=tensors,
        values=tensor_pb2.Tensor(shape=[len(values)], data=torch.tensor(values).numpy().tobytes())))


duplicate = [ps_pb2.TensorSpec(name="w", shape=[2]), ps_pb2.TensorSpec(name="w", shape=[1])]
record("duplicate-names", lambda: raw_init(duplicate, [0.0, 0.0, 0.0]))
out["duplicate-names"]["after"] = still_empty()
record("value-count", lambda: raw_init([ps_pb2.TensorSpec(name="w", shape=[2, 2])], [0.0, 0.0, 0.0]))
out["value-count"]["after"] = still_empty()

# two clients race with modules of the same layout and different values: exactly one wins
torch.manual_seed(1)
modules = [Cnn(), Cnn()]
start = threading.Barrier(2)
results = [None, None]


def racer(i):
    c = batchrpc.ParameterServerClient(target, "racer-%d" % i)
    start.wait()
    try:
        results[i] = c.init_model(modules[i])
    except batchrpc.BatchRpcError as e:
        results[i] = type(e).__name__


threads = [threading.Thread(target=racer, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
out["race"] = results
winner = results.index(True) if True in results else None
fetched = Cnn()
client.fetch(fetched)
out["fetched-equals-winner"] = winner is not None and all(
    torch.equal(p, q) for p, q in zip(fetched.parameters(), modules[winner].parameters()))
record("again-exist-ok", lambda: client.init_model(Cnn(), exist_ok=True))
record("other-layout", lambda: client.init_model(Cnn(channels=8)))
record("other-layout-exist-ok", lambda: client.init_model(Cnn(channels=8), exist_ok=True))
print(json.dumps(out, sort_keys=True))
