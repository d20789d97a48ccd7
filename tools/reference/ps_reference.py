#!/usr/bin/env python3
"""PyTorch reference of batch-rpc's parameter server: the batch-updating parameter server of the
tutorial "Batch RPC Processing Using Asynchronous Executions"
(https://pytorch.org/tutorials/intermediate/rpc_async_execution.html), written from its text.

The design, as the tutorial has it:
  * one parameter server (rank 0, "ps") and N trainers ("trainer1".."trainerN"), each its own
    process, connected by torch.distributed.rpc (TensorPipe) on 127.0.0.1;
  * BatchUpdateParameterServer.update_and_fetch_model is a static method decorated with
    @rpc.functions.async_execution: under a threading.Lock it adds the caller's gradients into
    p.grad (p.grad += g, one arrival at a time) and returns the round's torch.futures.Future at
    once; the last of the N arrivals divides p.grad by N, takes one SGD step (lr 0.001,
    momentum 0.9), zeroes the gradients, completes the future with the model (every trainer gets
    the same model) and starts a new future for the next round;
  * each trainer fetches the model, then per batch: forward, MSE loss against one-hot labels,
    backward, and update_and_fetch_model with its gradients, which returns the next model.
Model: batch-rpc's MLP 784-256-10 (nn.Linear, ReLU, nn.Linear; no activation after the last,
like compute's nn.Mlp) on the tutorial's random-input MSE task (randn inputs, fixed random
one-hot labels per trainer), batch size 20; or, with --replay-params P, one parameter tensor of P
floats to which every trainer sends the same pre-made gradient (no compute: the RPC path alone).

Timing: the server notes the time of every model update; rounds/s is over the measured rounds
after --warmup rounds (process start, RPC set-up and the first fetch excluded). Prints one JSON
line. Run it with Debian's torch:  /usr/bin/python3 tools/reference/ps_reference.py --help
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import torch  # noqa: E402
import torch.distributed.rpc as rpc  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch import optim  # noqa: E402

IN, HIDDEN, CLASSES = 784, 256, 10


class Mlp(nn.Module):
    """784-256-10: Linear, ReLU, Linear (batch-rpc's ModelSpec.mlp / compute nn.Mlp)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))

    def forward(self, x):
        return self.layers(x)


class Replay(nn.Module):
    """One parameter tensor of P floats: only the parameter server's update and the RPC are timed."""

    def __init__(self, params):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(params))


class BatchUpdateParameterServer:
    def __init__(self, trainers, replay_params, total_rounds):
        self.model = Replay(replay_params) if replay_params else Mlp()
        self.lock = threading.Lock()
        self.future_model = torch.futures.Future()
        self.batch_update_size = trainers
        self.curr_update_size = 0
        self.optimizer = optim.SGD(self.model.parameters(), lr=0.001, momentum=0.9)
        for p in self.model.parameters():
            p.grad = torch.zeros_like(p)
        self.version = 0
        self.update_times = [0.0] * (total_rounds + 1)  # update_times[v]: when model v was made

    def get_model(self):
        return self.model

    @staticmethod
    @rpc.functions.async_execution
    def update_and_fetch_model(ps_rref, grads):
        self = ps_rref.local_value()
        with self.lock:
            self.curr_update_size += 1
            for p, g in zip(self.model.parameters(), grads):
                p.grad += g
            fut = self.future_model
            if self.curr_update_size >= self.batch_update_size:
                for p in self.model.parameters():
                    p.grad /= self.batch_update_size
                self.curr_update_size = 0
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=False)
                self.version += 1
                if self.version < len(self.update_times):
                    self.update_times[self.version] = time.perf_counter()
                fut.set_result(self.model)
                self.future_model = torch.futures.Future()
        return fut


class Trainer:
    def __init__(self, ps_rref, batches, batch_size, replay_params):
        self.ps_rref = ps_rref
        self.batches = batches
        self.batch_size = batch_size
        self.replay_params = replay_params
        self.loss_fn = nn.MSELoss()
        self.one_hot_indices = torch.LongTensor(batch_size).random_(0, CLASSES).view(batch_size, 1)

    def get_next_batch(self):
        for _ in range(self.batches):
            inputs = torch.randn(self.batch_size, IN)
            labels = torch.zeros(self.batch_size, CLASSES).scatter_(1, self.one_hot_indices, 1)
            yield inputs, labels

    def train(self):
        m = self.ps_rref.rpc_sync().get_model()
        if self.replay_params:
            grad = [torch.full((self.replay_params,), 1e-3)]  # pre-made, sent every round
            for _ in range(self.batches):
                m = rpc.rpc_sync(self.ps_rref.owner(), BatchUpdateParameterServer.update_and_fetch_model,
                                 args=(self.ps_rref, grad))
            return
        for inputs, labels in self.get_next_batch():
            self.loss_fn(m(inputs), labels).backward()
            m = rpc.rpc_sync(self.ps_rref.owner(), BatchUpdateParameterServer.update_and_fetch_model,
                             args=(self.ps_rref, [p.grad for p in m.parameters()]))


def run_trainer(ps_rref, batches, batch_size, replay_params):
    Trainer(ps_rref, batches, batch_size, replay_params).train()


def run_ps(args, trainers):
    total = args.warmup + args.rounds
    server = BatchUpdateParameterServer(len(trainers), args.replay_params, total)
    ps_rref = rpc.RRef(server)
    start = time.perf_counter()
    server.update_times[0] = start
    futs = [rpc.rpc_async(t, run_trainer, args=(ps_rref, total, args.batch_size, args.replay_params))
            for t in trainers]
    torch.futures.wait_all(futs)
    t = server.update_times
    seconds = t[total] - t[args.warmup]
    params = sum(p.numel() for p in server.model.parameters())
    out = {
        "reference": "pytorch-rpc-ps",
        "torch": torch.__version__,
        "model": "replay" if args.replay_params else "mlp",
        "params": params,
        "trainers": len(trainers),
        "batch_size": args.batch_size,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "seconds": seconds,
        "rounds_per_s": args.rounds / seconds,
        "ms_per_round": seconds * 1000 / args.rounds,
        "startup_s": t[1] - start,
        "threads": torch.get_num_threads(),
    }
    out.update(common.blas_in_use())
    print(json.dumps(out), flush=True)


def run(rank, args, world_size, port):
    common.loopback_env(port)
    common.set_threads(args.threads)
    torch.manual_seed(args.seed + rank)
    options = rpc.TensorPipeRpcBackendOptions(num_worker_threads=16, rpc_timeout=0,  # infinite, as the tutorial
                                              init_method=f"tcp://127.0.0.1:{port}")
    if rank != 0:
        rpc.init_rpc(f"trainer{rank}", rank=rank, world_size=world_size, rpc_backend_options=options)
        # trainers wait passively for the server to start their training
    else:
        rpc.init_rpc("ps", rank=rank, world_size=world_size, rpc_backend_options=options)
        run_ps(args, [f"trainer{r}" for r in range(1, world_size)])
    rpc.shutdown()


def main():
    ap = argparse.ArgumentParser(description="PyTorch RPC reference of the batch-updating parameter server "
                                 "(one process per trainer on 127.0.0.1); prints one JSON line.")
    ap.add_argument("--trainers", type=int, default=5, help="trainers per round (default 5)")
    ap.add_argument("--rounds", type=int, default=200, help="measured rounds (default 200)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    ap.add_argument("--batch-size", type=int, default=20, help="MLP batch size (default 20)")
    ap.add_argument("--replay-params", type=int, default=0,
                    help="P > 0: a model of P floats and a fixed gradient, no compute (default 0: the MLP)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per process (default 1, as batch-rpc runs one BLAS thread per "
                         "trainer; 0: torch's default)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args()
    if args.trainers < 1 or args.rounds < 1 or args.warmup < 0 or args.batch_size < 1 or args.replay_params < 0:
        ap.error("--trainers, --rounds and --batch-size must be >= 1, --warmup and --replay-params >= 0")
    if args.threads > 0:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    port = common.free_loopback_port()
    world_size = args.trainers + 1
    mp.spawn(run, args=(args, world_size, port), nprocs=world_size, join=True)


if __name__ == "__main__":
    main()
