#!/usr/bin/python3
"""Your own PyTorch model trained by N processes against a batch-rpc parameter server that starts
without one (gRPC).

Start the server for 2 trainers with no model; the first trainer's init_model gives it this one:
    ./batch-rpc ps --trainers 2 --grpc-port 50051 --model init --lr 0.05
then, in two shells:
    examples/python/train_cnn.py --target 127.0.0.1:50051 --id py-0
    examples/python/train_cnn.py --target 127.0.0.1:50051 --id py-1 --export cnn.safetensors

Every trainer calls init_model(model, exist_ok=True): one of them sets the server's model (its
layout and initial values), the others are told it exists and fetch it, so all start from the same
weights. The data is synthetic (a bright square in one of the image's four quadrants; the label is
the quadrant), so the example needs no download; the loss falls as the shared model learns.
"""
import argparse
import os
import sys
import time

import torch  # torch first, on purpose: the stubs live at batchrpc/v1/*.proto, no clash with OpenCV's

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import batchrpc  # noqa: E402
from batchrpc import safetensors  # noqa: E402


class SmallCnn(torch.nn.Module):
    """Conv2d + ReLU + max-pool + Linear: 12x12 grey images, 4 classes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(8 * 6 * 6, 4)

    def forward(self, x):
        return self.head(torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1))


def batch(size, generator):
    """Noisy 12x12 images (unit Gaussian noise) with a brighter 3x3 square in quadrant y (0..3)."""
    y = torch.randint(0, 4, (size,), generator=generator)
    x = torch.randn(size, 1, 12, 12, generator=generator)
    offset = torch.randint(0, 4, (size, 2), generator=generator)
    for i in range(size):
        r = 6 * (int(y[i]) // 2) + int(offset[i, 0])
        c = 6 * (int(y[i]) % 2) + int(offset[i, 1])
        x[i, 0, r:r + 3, c:c + 3] += 1.0
    return x, y


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="the parameter server's gRPC address, HOST:PORT")
    p.add_argument("--id", required=True, help="this trainer's participant id ([A-Za-z0-9_.-]+)")
    p.add_argument("--rounds", type=int, default=100, help="rounds to take part in (default 100)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--export", help="after the last round, write the server's model to this safetensors file "
                                    "and check it loads back into the module")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    return args


def main():
    args = parse_args()
    model = SmallCnn()
    data = torch.Generator().manual_seed(sum(map(ord, args.id)))
    with batchrpc.ParameterServerClient(args.target, args.id) as client:
        won = client.init_model(model, exist_ok=True)
        version = client.fetch(model)
        print("%s: %s; joined at model version %d (layout %s)" % (
            args.id, "set the server's model" if won else "the server already had its model",
            version, ", ".join("%s%s" % (n, list(s)) for n, s in client.layout().items())), flush=True)
        start = time.time()
        for r in range(1, args.rounds + 1):
            x, y = batch(args.batch_size, data)
            model.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            version = client.update_and_fetch(model)
            if r == 1 or r % max(1, args.rounds // 5) == 0:
                print("%s: round %d/%d  model v%d  loss %.4f  (%.1f rounds/s)"
                      % (args.id, r, args.rounds, version, loss.item(), r / (time.time() - start)), flush=True)
        x, y = batch(256, data)
        with torch.no_grad():
            accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
        print("%s: done, model v%d, accuracy on 256 new images %.2f" % (args.id, version, accuracy), flush=True)
        if args.export:
            exported = client.export(args.export)
            back = SmallCnn()
            back.load_state_dict(safetensors.load(args.export))
            same = all(torch.equal(a, b) for a, b in zip(back.parameters(), model.parameters()))
            print("%s: wrote model v%d to %s (loads back into SmallCnn: %s)"
                  % (args.id, exported, args.export, "equal" if same else "DIFFERENT"), flush=True)
        client.leave()


if __name__ == "__main__":
    try:
        main()
    except batchrpc.BatchRpcError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(1)
