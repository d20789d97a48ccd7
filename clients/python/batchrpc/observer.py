"""Python environments as the batch-rpc agent's observers, over gRPC only (no Hazelcast, no JVM).

    from batchrpc import serve_observers
    from batchrpc.envs import CartPole

    server = serve_observers("127.0.0.1:50061", {"observer-1": lambda episode: CartPole(episode)})
    server.wait()                      # serves the agent's episodes until stopped

One gRPC server serves every observer of the process: ``serve_observers`` registers each id with
the agent (``RegisterObserver`` with this server's endpoint) and answers the agent's
``RunEpisode`` calls, which name the observer. Each step asks the agent for an action
(``SelectAction``; in batch mode the agent answers all observers' states of a step with one
forward pass), steps the environment, and records the reward and whether the environment ended
(then it is reset), exactly as the JVM observers do. An environment is any object with
``reset() -> state`` (4 floats for CartPole) and ``step(action) -> (state, reward, done)`` or
Gym's ``(state, reward, terminated, truncated, info)``; ``envs`` maps each observer id to a
function of the episode number that returns a fresh environment (seed it from the episode for
reproducible runs). Refusals are raised as :mod:`batchrpc.errors` exceptions (a registration
under the id of a live observer is ``Duplicate``).
"""
import concurrent.futures
import threading

import grpc

from . import errors
from ._stubs import ensure as _ensure

_ensure()
from .v1 import agent_pb2, agent_pb2_grpc, membership_pb2, observer_pb2, observer_pb2_grpc, tensor_pb2  # noqa: E402

MAX_STEPS = 1_000_000


def _floats(state):
    if hasattr(state, "detach"):
        state = state.detach().reshape(-1).tolist()
    return [float(x) for x in state]


class _Observer(observer_pb2_grpc.ObserverServicer):
    def __init__(self, agent, envs, timeout_s):
        self._agent, self._envs, self._timeout_s = agent, envs, timeout_s
        self._running = set()
        self._lock = threading.Lock()

    def RunEpisode(self, request, context):
        oid = request.observer_id
        if oid not in self._envs:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "this endpoint serves observers %s, not %r" % (sorted(self._envs), oid))
        if not 0 < request.n_steps <= MAX_STEPS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "n_steps must be in [1, %d], got %d" % (MAX_STEPS, request.n_steps))
        with self._lock:
            if oid in self._running:
                context.abort(grpc.StatusCode.UNAVAILABLE, "observer %r is already running an episode" % oid)
            self._running.add(oid)
        try:
            return self._run(oid, request.episode, request.n_steps, context)
        finally:
            with self._lock:
                self._running.discard(oid)

    def _run(self, oid, episode, n, context):
        env = self._envs[oid](episode)
        state = env.reset()
        rewards, done_flags = [], []
        for step in range(n):
            s = _floats(state)
            try:
                reply = self._agent.SelectAction(agent_pb2.SelectActionRequest(
                    observer_id=oid, episode=episode, step=step,
                    state=tensor_pb2.Tensor(shape=[len(s)], data=_pack(s))), timeout=self._timeout_s)
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e)
                context.abort(e.code() or grpc.StatusCode.UNAVAILABLE,
                              "observer %r episode %d step %d: the agent refused: %s" % (oid, episode, step, err))
            out = env.step(reply.action)
            if len(out) == 5:
                state, reward, terminated, truncated, _ = out
                done = terminated or truncated
            else:
                state, reward, done = out
            rewards.append(float(reward))
            done_flags.append(bool(done))
            if done or step + 1 == n:
                state = env.reset()
        first = 0.0
        for r, d in zip(rewards, done_flags):
            first += r
            if d:
                break
        return observer_pb2.RunEpisodeReply(observer_id=oid, rewards=rewards, terminated=done_flags,
                                            first_episode_reward=first)


def _pack(values):
    import struct
    return struct.pack("<%df" % len(values), *values)


class ObserverServer:
    """A running gRPC server for some observers; ``stop()`` leaves the agent's rounds and stops."""

    def __init__(self, server, agent_channel, agent, ids, endpoint):
        self._server, self._channel, self._agent, self.ids, self.endpoint = server, agent_channel, agent, ids, endpoint

    def wait(self, timeout=None):
        """Blocks until the server stops (or ``timeout`` seconds)."""
        return self._server.wait_for_termination(timeout)

    def stop(self, leave=True):
        """Leaves the agent's rounds (each observer says ``Leave``), then stops serving."""
        if leave:
            for oid in self.ids:
                try:
                    self._agent.Leave(membership_pb2.LeaveRequest(participant_id=oid), timeout=10)
                except grpc.RpcError:
                    pass  # the agent is gone already: nothing to leave
        self._server.stop(grace=2).wait()
        self._channel.close()


def serve_observers(agent_target, envs, listen="127.0.0.1:0", advertise_host=None, tls=None,
                    action_timeout_s=60.0):
    """Starts one gRPC server for the observers ``envs`` (id -> function of the episode number that
    returns a fresh environment) and registers each with the agent at ``agent_target``.

    ``listen`` is where this server binds (port 0: any free one); ``advertise_host`` the host the
    agent should call back (default: the listen host). Returns an :class:`ObserverServer`; raises a
    :mod:`batchrpc.errors` exception if the agent refuses a registration (nothing stays registered
    by this call then: the ones already accepted leave again).
    """
    from .ps import _channel
    if not envs:
        raise ValueError("envs must name at least one observer")
    channel = _channel(agent_target, tls, 64 << 20)
    agent = agent_pb2_grpc.AgentStub(channel)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=len(envs) + 2))
    observer_pb2_grpc.add_ObserverServicer_to_server(_Observer(agent, dict(envs), action_timeout_s), server)
    host, _, port = listen.rpartition(":")
    if tls is None:
        bound = server.add_insecure_port(listen)
    else:
        bound = server.add_secure_port(listen, tls.server_credentials())
    if bound == 0:
        raise OSError("cannot listen on %s" % listen)
    server.start()
    endpoint = "%s:%d" % (advertise_host or host, bound)
    accepted = []
    try:
        for oid in envs:
            try:
                agent.RegisterObserver(agent_pb2.RegisterObserverRequest(observer_id=oid, grpc_endpoint=endpoint),
                                       timeout=30)
            except grpc.RpcError as e:
                raise errors.from_rpc_error(e) from None
            accepted.append(oid)
    except Exception:
        running = ObserverServer(server, channel, agent, accepted, endpoint)
        running.stop(leave=True)
        raise
    return ObserverServer(server, channel, agent, list(envs), endpoint)
