#!/usr/bin/python3
"""A user's own model (a small CNN, not the built-in MLP) through a parameter server started with
--model init:
  train TARGET ID ROUNDS            one trainer: init_model(exist_ok=True) with the seeded CNN (one of
                                    the trainers wins), fetch, ROUNDS x (backward on its batch,
                                    update_and_fetch); prints JSON
  check TARGET SERVED LR MOMENTUM ROUNDS ID...
                                    writes the server's model (GetModel) to SERVED (safetensors) and
                                    compares it with a torch reference: the same batches, gradients
                                    averaged over the trainers, torch.optim.SGD with momentum; prints JSON
  verify EXPORT SERVED              loads the server's --export file into a fresh CNN and compares it
                                    with SERVED; prints JSON
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


def seeded_cnn():
    torch.manual_seed(7)
    return Cnn()


def batches(pid):
    """The trainer's own data: 8 random 8x8 images and labels per round, from a generator seeded by its id."""
    g = torch.Generator().manual_seed(sum(map(ord, pid)))
    while True:
        yield torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)


def digest(tensors):
    flat = torch.cat([t.reshape(-1) for t in tensors])
    return hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16]


def reference(rounds, ids, lr, momentum):
    """What the server must hold: per round, every trainer's gradient on the same model, their mean
    (summed in order, divided by n), one torch.optim.SGD step."""
    model = seeded_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    data = {pid: batches(pid) for pid in ids}
    params = list(model.parameters())
    for _ in range(rounds):
        total = None
        for pid in ids:
            x, y = next(data[pid])
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            grads = [p.grad.clone() for p in params]
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
        for p, g in zip(params, total):
            p.grad = g / len(ids)
        opt.step()
    return dict(model.named_parameters())


mode = sys.argv[1]
if mode == "train":
    target, pid, rounds = sys.argv[2], sys.argv[3], int(sys.argv[4])
    model = seeded_cnn()
    data = batches(pid)
    with batchrpc.ParameterServerClient(target, pid) as client:
        initialized = client.init_model(model, exist_ok=True)
        client.fetch(model)
        for _ in range(rounds):
            x, y = next(data)
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            client.update_and_fetch(model)
        print(json.dumps({"id": pid, "initialized": initialized, "version": client.version,
                          "round_size": client.round_size,
                          "digest": digest([p.detach() for p in model.parameters()])}))
elif mode == "check":
    target, served_path, lr, momentum, rounds, ids = (sys.argv[2], sys.argv[3], float(sys.argv[4]),
                                                      float(sys.argv[5]), int(sys.argv[6]), sys.argv[7:])
    with batchrpc.ParameterServerClient(target, "") as client:
        version = client.export(served_path)
        served, served_version = client.parameters()
    ref = reference(rounds, ids, lr, momentum)
    diff = max((served[n] - ref[n].detach()).abs().max().item() for n in served)
    print(json.dumps({"version": version, "served_version": served_version, "names": list(served),
                      "digest": digest(list(served.values())), "max_abs_diff_to_torch": diff,
                      "close_to_torch": all(torch.allclose(served[n], ref[n].detach(), rtol=1e-5, atol=1e-6)
                                            for n in served)}))
elif mode == "verify":
    exported, served_path = sys.argv[2], sys.argv[3]
    loaded = safetensors.load(exported)
    served = safetensors.load(served_path)
    fresh = Cnn()
    fresh.load_state_dict(loaded, strict=True)
    in_module = {n: p.detach() for n, p in fresh.named_parameters()}
    print(json.dumps({"names": list(loaded), "export_equals_get_model": list(loaded) == list(served) and all(
        torch.equal(loaded[n], served[n]) for n in served), "module_equals_get_model": all(
        torch.equal(in_module[n], served[n]) for n in served), "digest": digest(list(loaded.values()))}))
else:
    sys.exit("usage: cnn_roundtrip.py train TARGET ID ROUNDS | check TARGET SERVED LR MOMENTUM ROUNDS ID... | "
             "verify EXPORT SERVED")
