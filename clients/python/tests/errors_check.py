#!/usr/bin/python3
"""Provokes every refusal of a parameter server (built-in MLP, participants a and b, rounds of 2)
and prints one JSON object: case -> {"exception": class name, "metadata": {...}}.
    errors_check.py TARGET SIZES STRICT_TARGET
STRICT_TARGET is a second server of the same model whose rounds fail instead of running partial
(--partial-policy fail, a short --max-wait-ms) and whose first step fails on the server: there a
round that b never joins is a RoundTimeout for a, and the next round of a and b a BatchFailed.
Run by the Java test PythonClientTest; torch is imported first on purpose (the import-order clash)."""
import json
import os
import sys
import threading
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import batchrpc  # noqa: E402
from batchrpc.v1 import ps_pb2, tensor_pb2  # noqa: E402

target, sizes, strict_target = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3]
out = {}


def mlp(s):
    layers = []
    for i in range(len(s) - 1):
        layers.append(torch.nn.Linear(s[i], s[i + 1]))
        if i + 2 < len(s):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def record(case, fn):
    try:
        fn()
        out[case] = {"exception": None}
    except batchrpc.BatchRpcError as e:
        out[case] = {"exception": type(e).__name__, "reason": e.reason, "metadata": e.metadata,
                     "status": e.status.name if e.status is not None else None, "message": e.message}


def with_grads(module, value):
    for p in module.parameters():
        p.grad = torch.full_like(p, value)


def raw_update(client, floats):
    t = torch.zeros(floats)
    client._call(client._stub.UpdateAndFetchModel, ps_pb2.UpdateRequest(
        participant_id=client.participant_id, model_version=client.version,
        gradients=tensor_pb2.Tensor(shape=[floats], data=t.numpy().tobytes())))


model = mlp(sizes)
P = sum(p.numel() for p in model.parameters())
a = batchrpc.ParameterServerClient(target, "a")
b = batchrpc.ParameterServerClient(target, "b")
a.fetch(model)
b.fetch(model)

record("bad-request", lambda: batchrpc.ParameterServerClient(target, "bad id!").fetch(model))
record("unknown-participant", lambda: batchrpc.ParameterServerClient(target, "zz").fetch(model))
record("layout-mismatch", lambda: a.fetch(mlp([sizes[0] + 1] + sizes[1:])))
with_grads(model, float("nan"))
record("non-finite", lambda: a.update_and_fetch(model))
record("shape-mismatch", lambda: raw_update(a, P + 1))
record("too-large", lambda: raw_update(a, P + 400_000))
future = batchrpc.ParameterServerClient(target, "a")
future.fetch(model)
future.version = 7
with_grads(model, 0.01)
record("future-version", lambda: future.update_and_fetch(model))

# a's update waits in the open round; a second one from "a" is a duplicate; b completes the round
first = {}
waiting = threading.Thread(target=lambda: first.update(version=a.update_and_fetch(model)))
waiting.start()
time.sleep(0.5)
twice = batchrpc.ParameterServerClient(target, "a")
twice.version = 0
record("duplicate", lambda: twice.update_and_fetch(model))
b.update_and_fetch(model)
waiting.join(30)
out["round"] = {"version": first.get("version"), "b": b.version}
stale = batchrpc.ParameterServerClient(target, "a")
stale.version = 0
record("stale-version", lambda: stale.update_and_fetch(model))
gone = batchrpc.ParameterServerClient("127.0.0.1:1", "a", timeout_s=5)
record("unavailable", lambda: gone.fetch())
record("already-initialized", lambda: a.init_model(mlp(sizes)))
record("layout-mismatch-from-server", lambda: a.init_model(mlp([sizes[0] + 1] + sizes[1:])))

# the strict server: a's round times out without b; then the round of both fails on the server
sa = batchrpc.ParameterServerClient(strict_target, "a")
sb = batchrpc.ParameterServerClient(strict_target, "b")
sa.fetch(model)
sb.fetch(model)
record("round-timeout", lambda: sa.update_and_fetch(model))
failed_b = {}


def b_round():
    try:
        sb.update_and_fetch(model)
    except batchrpc.BatchRpcError as e:
        failed_b["exception"] = type(e).__name__


other = threading.Thread(target=b_round)
other.start()
record("batch-failed", lambda: sa.update_and_fetch(model))
other.join(30)
out["batch-failed"]["b"] = failed_b.get("exception")
print(json.dumps(out, sort_keys=True))
