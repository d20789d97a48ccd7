#!/usr/bin/python3
"""Against an agent of 2 observers whose observer-0 is a live JVM observer: registering observer-0
from Python is refused (Duplicate); then observer-1 is served from Python until stdin closes, and a
JSON summary is printed. Run by the Java test PythonClientTest."""
import json
import os
import sys

import torch  # noqa: F401

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import batchrpc  # noqa: E402
from batchrpc.envs import CartPole  # noqa: E402

agent = sys.argv[1]
out = {}
try:
    batchrpc.serve_observers(agent, {"observer-0": lambda e: CartPole(e)})
    out["takeover"] = None
except batchrpc.BatchRpcError as e:
    out["takeover"] = {"exception": type(e).__name__, "message": e.message}

steps = []


class Recording:
    def __init__(self, episode):
        self.env = CartPole(episode + 17)
        self.episode = episode

    def reset(self):
        return self.env.reset()

    def step(self, action):
        steps.append((self.episode, action))
        return self.env.step(action)


server = batchrpc.serve_observers(agent, {"observer-1": Recording})
print("serving", flush=True)
sys.stdin.read()  # the test closes stdin when its episodes are done
server.stop(leave=True)
out["episodes"] = sorted({e for e, _ in steps})
out["steps"] = len(steps)
out["actions"] = sorted({a for _, a in steps})
print(json.dumps(out, sort_keys=True), flush=True)
