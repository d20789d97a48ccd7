#!/usr/bin/python3
"""CartPole-v1 observers in Python for the batch-rpc agent, over gRPC only (no Hazelcast, no JVM).

Start an agent that waits for 2 observers over gRPC (no in-process observers: --clustered):
    ./batch-rpc agent --observers 2 --clustered --grpc-port 50061 --episodes 100
then serve both observers from this one process (one gRPC server, both registered with the agent):
    examples/python/cartpole_observer.py --agent 127.0.0.1:50061 --ids observer-0,observer-1

Each episode the agent asks every observer to run its steps; every step the observer sends its
state and gets the action the agent's one batched forward pass chose for it. Any environment with
reset() and step(action) can take CartPole's place (see clients/python/batchrpc/observer.py).
"""
import argparse
import os
import signal
import sys
import threading

import torch  # noqa: F401  (torch first on purpose: no proto clash)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import batchrpc  # noqa: E402
from batchrpc.envs import CartPole  # noqa: E402


class Counting:
    """Wraps an environment to count the steps and episodes served (for the summary line)."""
    steps = 0
    episodes = 0

    def __init__(self, env):
        self.env = env

    def reset(self):
        return self.env.reset()

    def step(self, action):
        Counting.steps += 1
        return self.env.step(action)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agent", required=True, help="the agent's gRPC address, HOST:PORT")
    p.add_argument("--ids", required=True, help="the observer ids to serve, comma-separated (an agent of N observers has "
                   "observer-0 .. observer-N-1)")
    p.add_argument("--listen", default="127.0.0.1:0", help="where this process's gRPC server binds (default: "
                   "a free port on 127.0.0.1)")
    p.add_argument("--advertise-host", help="the host the agent calls back (default: the --listen host)")
    p.add_argument("--seed", type=int, default=0, help="environment seed; each episode's env is seeded from it")
    p.add_argument("--tls-ca", help="CA certificate (PEM) when the agent uses --tls-*")
    p.add_argument("--tls-cert", help="this process's certificate (PEM)")
    p.add_argument("--tls-key", help="this process's key (PEM)")
    args = p.parse_args()
    ids = [i for i in args.ids.split(",") if i]
    if not ids:
        p.error("--ids names no observer")
    tls = batchrpc.Tls(args.tls_ca, args.tls_cert, args.tls_key) if args.tls_ca else None

    def env_for(index):
        def make(episode):
            Counting.episodes += 1
            return Counting(CartPole(args.seed * 1_000_003 + episode * 1000 + index))
        return make

    try:
        server = batchrpc.serve_observers(args.agent, {oid: env_for(i) for i, oid in enumerate(ids)},
                                          listen=args.listen, advertise_host=args.advertise_host, tls=tls)
    except batchrpc.BatchRpcError as e:
        print("error: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
    print("observers %s registered with %s, serving at %s" % (", ".join(ids), args.agent, server.endpoint),
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    server.stop(leave=True)
    print("served %d episodes, %d steps; left the agent" % (Counting.episodes, Counting.steps), flush=True)


if __name__ == "__main__":
    main()
