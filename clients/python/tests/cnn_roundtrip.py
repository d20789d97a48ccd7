#!/usr/bin/python3
"""A user's own model (a small CNN, not the built-in MLP) through the parameter server:
  init FILE                      writes the CNN's initial weights (seeded) as safetensors
  train TARGET ID ROUNDS         one trainer: fetch, ROUNDS x (backward on its batch, update_and_fetch)
  check TARGET EXPORT            exports the server's model, loads it back into a fresh CNN and
                                 compares with GetModel; prints JSON
Run by the Java test PythonClientTest."""
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import batchrpc  # noqa: E402
from batchrpc import safetensors  # noqa: E402


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def digest(tensors):
    flat = torch.cat([t.reshape(-1) for t in tensors])
    return hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16]


mode = sys.argv[1]
if mode == "init":
    torch.manual_seed(7)
    safetensors.save(Cnn().state_dict(), sys.argv[2])
    print("wrote", sys.argv[2])
elif mode == "train":
    target, pid, rounds = sys.argv[2], sys.argv[3], int(sys.argv[4])
    model = Cnn()
    g = torch.Generator().manual_seed(sum(map(ord, pid)))
    with batchrpc.ParameterServerClient(target, pid) as client:
        client.fetch(model)
        for _ in range(rounds):
            x = torch.randn(8, 1, 8, 8, generator=g)
            y = torch.randint(0, 3, (8,), generator=g)
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            client.update_and_fetch(model)
        print(json.dumps({"id": pid, "version": client.version, "round_size": client.round_size,
                          "digest": digest([p.detach() for p in model.parameters()])}))
elif mode == "check":
    target, path = sys.argv[2], sys.argv[3]
    with batchrpc.ParameterServerClient(target, "") as client:
        version = client.export(path)
        served, served_version = client.parameters()
    loaded = safetensors.load(path)
    fresh = Cnn()
    missing, unexpected = fresh.load_state_dict(loaded, strict=True), None
    same = all(torch.equal(loaded[n], served[n]) for n in served) and list(loaded) == list(served)
    in_module = all(torch.equal(dict(fresh.named_parameters())[n].detach(), served[n]) for n in served)
    print(json.dumps({"version": version, "served_version": served_version, "export_equals_get_model": same,
                      "module_equals_get_model": in_module, "names": list(loaded),
                      "digest": digest(list(served.values()))}))
else:
    sys.exit("usage: cnn_roundtrip.py init FILE | train TARGET ID ROUNDS | check TARGET EXPORT")
