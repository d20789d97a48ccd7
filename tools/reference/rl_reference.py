#!/usr/bin/env python3
"""PyTorch reference of batch-rpc's CartPole agent: the batch-processing agent of the tutorial
"Batch RPC Processing Using Asynchronous Executions"
(https://pytorch.org/tutorials/intermediate/rpc_async_execution.html), written from its text.

The design, as the tutorial has it:
  * world size W = 1 agent (rank 0) + W-1 observers, each its own process, torch.distributed.rpc
    on 127.0.0.1; the agent creates one Observer per observer rank (rpc.remote) and, per episode,
    asks all of them to run n_steps of CartPole-v1 (rpc_async + wait_all);
  * every step each observer sends its state to the agent (rpc_sync). Batch mode:
    Agent.select_action_batch is a static method decorated with @rpc.functions.async_execution:
    it copies the state into row ob_id of a shared states tensor and returns a future chained
    (.then) on the round's torch.futures.Future; under a threading.Lock the last of the W-1
    arrivals runs ONE policy forward over all states, samples every action (Categorical),
    saves the log-probs and completes the round's future. Non-batch mode: Agent.select_action
    runs the policy on that one state and answers at once;
  * an observer resets its environment when it terminates and keeps going until n_steps;
    returns are the reward-to-go within each sub-episode (gamma); the episode's reward is the
    length of its first sub-episode; at the end of an episode the agent computes REINFORCE,
    loss = sum(-log_prob * return / (W-1)), one Adam step (lr 1e-2);
  * Policy: Linear(4,128) -> Dropout(0.6) -> ReLU -> Linear(128,2) -> softmax (dropout stays on).
CartPole-v1 is implemented in clients/python/batchrpc/envs.py (no gym), following /work/shared/reference/cartpole-v1.md:
Euler steps in double precision, float32 observations, reward 1 per step, terminated past 2.4 or
12 degrees, truncated at 500 steps, reset uniform in (-0.05, 0.05).

Timing: the agent times its episode loop (every episode: the observers' steps, the actions and
the REINFORCE update), after --warmup-episodes untimed ones by the same agent; process start
and RPC set-up are excluded (the tutorial's own figure includes them: "wall_s" here). Prints one
JSON line per (world size, mode).  /usr/bin/python3 tools/reference/rl_reference.py --help
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import common  # noqa: E402

import torch  # noqa: E402
import torch.distributed.rpc as rpc  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.optim as optim  # noqa: E402
from torch.distributions import Categorical  # noqa: E402
from torch.distributed.rpc import RRef, remote, rpc_async  # noqa: E402
from batchrpc.envs import CartPole  # noqa: E402  (the Python client's CartPole-v1)

AGENT_NAME = "agent"
OBSERVER_NAME = "observer{}"
GAMMA = 1.0


class Policy(nn.Module):
    def __init__(self, batch=True):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)
        self.dim = 2 if batch else 1

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=self.dim)


class Observer:
    def __init__(self, batch, seed):
        self.id = rpc.get_worker_info().id - 1
        self.env = CartPole(seed * 1000 + self.id)
        self.select_action = Agent.select_action_batch if batch else Agent.select_action

    def run_episode(self, agent_rref, n_steps):
        state, ep_reward = self.env.reset(), n_steps
        rewards = torch.zeros(n_steps)
        start_step = 0
        for step in range(n_steps):
            state = state.unsqueeze(0)
            # send the state to the agent to get an action
            action = rpc.rpc_sync(agent_rref.owner(), self.select_action, args=(agent_rref, self.id, state))
            # apply the action to the environment, and get the reward
            state, reward, done = self.env.step(action)
            rewards[step] = reward
            if done or step + 1 >= n_steps:
                curr_rewards = rewards[start_step:(step + 1)]
                R = 0
                for i in range(curr_rewards.numel() - 1, -1, -1):
                    R = curr_rewards[i] + GAMMA * R
                    curr_rewards[i] = R
                state = self.env.reset()
                if start_step == 0:
                    ep_reward = min(ep_reward, step - start_step + 1)
                start_step = step + 1
        return [rewards, ep_reward]


class Agent:
    def __init__(self, world_size, batch, seed):
        self.ob_rrefs = []
        self.agent_rref = RRef(self)
        self.rewards = {}
        self.policy = Policy(batch)
        self.optimizer = optim.Adam(self.policy.parameters(), lr=1e-2)
        self.running_reward = 0
        for ob_rank in range(1, world_size):
            ob_info = rpc.get_worker_info(OBSERVER_NAME.format(ob_rank))
            self.ob_rrefs.append(remote(ob_info, Observer, args=(batch, seed)))
            self.rewards[ob_info.id] = []
        self.states = torch.zeros(len(self.ob_rrefs), 1, 4)
        self.batch = batch
        self.saved_log_probs = [] if self.batch else {k: [] for k in range(len(self.ob_rrefs))}
        self.future_actions = torch.futures.Future()
        self.lock = threading.Lock()
        self.pending_states = len(self.ob_rrefs)

    @staticmethod
    @rpc.functions.async_execution
    def select_action_batch(agent_rref, ob_id, state):
        self = agent_rref.local_value()
        self.states[ob_id].copy_(state)
        future_action = self.future_actions.then(lambda future_actions: future_actions.wait()[ob_id].item())
        with self.lock:
            self.pending_states -= 1
            if self.pending_states == 0:
                self.pending_states = len(self.ob_rrefs)
                # the tutorial runs self.policy(self.states.cuda()): a copy. On the CPU we copy
                # explicitly, or the next round's copy_ into self.states would overwrite the input
                # autograd saved for REINFORCE's backward pass.
                probs = self.policy(self.states.clone())
                m = Categorical(probs)
                actions = m.sample()
                self.saved_log_probs.append(m.log_prob(actions).t()[0])
                future_actions = self.future_actions
                self.future_actions = torch.futures.Future()
                future_actions.set_result(actions)
        return future_action

    @staticmethod
    def select_action(agent_rref, ob_id, state):
        self = agent_rref.local_value()
        probs = self.policy(state)
        m = Categorical(probs)
        action = m.sample()
        self.saved_log_probs[ob_id].append(m.log_prob(action))
        return action.item()

    def run_episode(self, n_steps=0):
        futs = [ob_rref.rpc_async().run_episode(self.agent_rref, n_steps) for ob_rref in self.ob_rrefs]
        # wait until all observers have finished this episode
        rets = torch.futures.wait_all(futs)
        rewards = torch.stack([ret[0] for ret in rets]).t()
        ep_rewards = sum([ret[1] for ret in rets]) / len(rets)
        if self.batch:
            probs = torch.stack(self.saved_log_probs)
        else:
            probs = [torch.stack(self.saved_log_probs[i]) for i in range(len(rets))]
            probs = torch.stack(probs)
            # non-batch log-probs are [N, steps, 1]: as written, the tutorial multiplies that by
            # rewards [steps, N] (a broadcast to [N, steps, N]); drop the last axis and transpose
            # to [steps, N], the batch mode's shape, so both modes compute the same loss
            probs = probs.squeeze(-1).t()
        policy_loss = -probs * rewards / len(rets)
        policy_loss.sum().backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        # reset variables
        self.saved_log_probs = [] if self.batch else {k: [] for k in range(len(self.ob_rrefs))}
        self.states = torch.zeros(len(self.ob_rrefs), 1, 4)
        self.running_reward = 0.5 * ep_rewards + 0.5 * self.running_reward
        return ep_rewards, self.running_reward


def run_worker(rank, world_size, args, batch, port, result_file):
    common.loopback_env(port)
    common.set_threads(args.threads)
    options = rpc.TensorPipeRpcBackendOptions(num_worker_threads=16, rpc_timeout=0,
                                              init_method=f"tcp://127.0.0.1:{port}")
    if rank == 0:
        rpc.init_rpc(AGENT_NAME, rank=rank, world_size=world_size, rpc_backend_options=options)
        torch.manual_seed(args.seed)
        agent = Agent(world_size, batch, args.seed)
        for _ in range(args.warmup_episodes):
            agent.run_episode(n_steps=args.steps)
        loop = 0.0
        last_reward = running_reward = 0.0
        for _ in range(args.episodes):
            t = time.perf_counter()
            last_reward, running_reward = agent.run_episode(n_steps=args.steps)
            loop += time.perf_counter() - t
        with open(result_file, "w") as f:
            json.dump({"episode_loop_s": loop, "last_reward": float(last_reward),
                       "running_reward": float(running_reward), "threads": torch.get_num_threads()}, f)
    else:
        # observers wait passively for the agent's instructions
        rpc.init_rpc(OBSERVER_NAME.format(rank), rank=rank, world_size=world_size, rpc_backend_options=options)
    rpc.shutdown()


def parse_world_sizes(s):
    sizes = set()
    for part in s.split(","):
        part = part.strip()
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            sizes.update(range(int(a), int(b) + 1))
        else:
            sizes.add(int(part))
    if not sizes or min(sizes) < 2:
        raise ValueError(f"world sizes must be >= 2, got '{s}'")
    return sorted(sizes)


def main():
    ap = argparse.ArgumentParser(description="PyTorch RPC reference of the batch-processing CartPole agent: "
                                 "one JSON line per (world size, mode) with the episode-loop time.")
    ap.add_argument("--world-sizes", default="2-11", help="agent + observers: a range '2-11' or a list '2,6,11' "
                    "(default 2-11)")
    ap.add_argument("--modes", default="batch,nobatch", help="batch and/or nobatch (default batch,nobatch)")
    ap.add_argument("--episodes", type=int, default=10, help="timed episodes (default 10)")
    ap.add_argument("--steps", type=int, default=500, help="steps per episode (default 500)")
    ap.add_argument("--warmup-episodes", type=int, default=1, help="untimed episodes first (default 1)")
    ap.add_argument("--seed", type=int, default=543, help="random seed (default 543, the tutorial's)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1; 0: torch's default)")
    args = ap.parse_args()
    try:
        sizes = parse_world_sizes(args.world_sizes)
    except ValueError as e:
        ap.error(str(e))
    modes = [m.strip() for m in args.modes.split(",")]
    if any(m not in ("batch", "nobatch") for m in modes):
        ap.error(f"--modes takes batch and/or nobatch, got '{args.modes}'")
    if args.episodes < 1 or args.steps < 1 or args.warmup_episodes < 0:
        ap.error("--episodes and --steps must be >= 1, --warmup-episodes >= 0")
    if args.threads > 0:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    blas = common.blas_in_use()
    for ws in sizes:
        for mode in modes:
            fd, result_file = tempfile.mkstemp(prefix="rl-reference-", suffix=".json")
            os.close(fd)
            try:
                tik = time.perf_counter()
                mp.spawn(run_worker, args=(ws, args, mode == "batch", common.free_loopback_port(), result_file),
                         nprocs=ws, join=True)
                wall = time.perf_counter() - tik
                with open(result_file) as f:
                    r = json.load(f)
            finally:
                os.unlink(result_file)
            out = {"reference": "pytorch-rpc-rl", "torch": torch.__version__, "world_size": ws, "mode": mode,
                   "episodes": args.episodes, "steps": args.steps, "warmup_episodes": args.warmup_episodes,
                   "episode_loop_s": r["episode_loop_s"], "wall_s": wall, "last_reward": r["last_reward"],
                   "running_reward": r["running_reward"], "threads": r["threads"]}
            out.update(blas)
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
