#!/usr/bin/python3
"""A PyTorch nn.Module trained by N processes against the batch-rpc parameter server (gRPC).

Start the server for 2 trainers (its built-in MLP has nn.Sequential's parameter names):
    ./batch-rpc ps --trainers 2 --grpc-port 50051 --lr 0.05
then, in two shells:
    examples/python/train_mlp.py --target 127.0.0.1:50051 --id py-0
    examples/python/train_mlp.py --target 127.0.0.1:50051 --id py-1

Each round, every trainer computes the gradient of its own batch and calls update_and_fetch; the
server averages the round's gradients, takes one SGD step and gives every trainer the same model.
The data is synthetic (a fixed random teacher labels random inputs), so the example needs no
download; the loss falls as the shared model learns the teacher.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import torch  # torch first, on purpose: the stubs live at batchrpc/v1/*.proto, no clash with OpenCV's

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import batchrpc  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="the parameter server's gRPC address, HOST:PORT")
    p.add_argument("--id", required=True, help="this trainer's participant id ([A-Za-z0-9_.-]+)")
    p.add_argument("--rounds", type=int, default=100, help="rounds to take part in (default 100)")
    p.add_argument("--layers", default="784,256,10", help="the MLP's layer sizes, as the server's --layers")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="the data seed (each trainer adds its own id)")
    p.add_argument("--report", help="append one JSON line per round (version, round size, parameter digest)")
    p.add_argument("--tls-ca", help="CA certificate (PEM) when the server uses --tls-*")
    p.add_argument("--tls-cert", help="this client's certificate (PEM)")
    p.add_argument("--tls-key", help="this client's key (PEM)")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    return args


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def digest(module):
    flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    return hashlib.sha256(flat.numpy().tobytes()).hexdigest()[:16]


def main():
    args = parse_args()
    sizes = [int(s) for s in args.layers.split(",")]
    model = mlp(sizes)
    teacher = torch.Generator().manual_seed(1234)
    w_teacher = torch.randn(sizes[0], sizes[-1], generator=teacher)
    data = torch.Generator().manual_seed(args.seed * 1_000_003 + sum(map(ord, args.id)))
    tls = batchrpc.Tls(args.tls_ca, args.tls_cert, args.tls_key) if args.tls_ca else None
    report = open(args.report, "a") if args.report else None
    loss_fn = torch.nn.CrossEntropyLoss()
    with batchrpc.ParameterServerClient(args.target, args.id, tls=tls) as client:
        version = client.fetch(model)
        print("%s: joined at model version %d (layout %s)" % (args.id, version, list(client.layout())), flush=True)
        start, refetches, r = time.time(), 0, 0
        while r < args.rounds:
            x = torch.randn(args.batch_size, sizes[0], generator=data)
            y = (x @ w_teacher).argmax(dim=1)
            model.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            try:
                version = client.update_and_fetch(model)
            except batchrpc.VersionMismatch as e:
                # the server moved on (a round ran without us, or it restored a checkpoint): catch up
                refetches += 1
                version = client.fetch(model)
                print("%s: %s; fetched version %d" % (args.id, e, version), flush=True)
                continue
            r += 1
            if report:
                report.write(json.dumps({"id": args.id, "version": version, "round_size": client.round_size,
                                         "digest": digest(model), "loss": loss.item()}) + "\n")
                report.flush()
            if r == 1 or r % max(1, args.rounds // 10) == 0 or r == args.rounds:
                print("%s: round %d/%d  model v%d  loss %.4f  (%.1f rounds/s)"
                      % (args.id, r, args.rounds, version, loss.item(), r / (time.time() - start)), flush=True)
        client.leave()
    print("%s: done, %d rounds, model v%d, %d re-fetches" % (args.id, args.rounds, version, refetches), flush=True)


if __name__ == "__main__":
    try:
        main()
    except batchrpc.BatchRpcError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(1)
