"""A PyTorch module trained against the batch-rpc parameter server over gRPC.

    client = ParameterServerClient("127.0.0.1:50051", "py-trainer-0")
    client.init_model(model, exist_ok=True)  # a server started with --model init takes this model
    client.fetch(model)                    # loads the server's model into model, in place
    for x, y in batches:
        model.zero_grad()
        loss_fn(model(x), y).backward()
        client.update_and_fetch(model)     # sends p.grad, waits for the round, loads the new model
    client.leave()

The server holds a flat float32 vector with a layout (named tensors, ``GetLayout``); the client
maps a module's ``named_parameters()`` onto it by name and refuses a module that does not match
(:class:`LayoutMismatch`, naming every difference). Refusals are typed exceptions
(:mod:`batchrpc.errors`).
"""
import collections

import grpc
import torch

from . import errors
from ._stubs import ensure as _ensure

_ensure()
from .v1 import ps_pb2, ps_pb2_grpc, tensor_pb2  # noqa: E402



class Tls:
    """TLS settings: the CA that signed the server's certificate, and this client's own certificate
    and key (the services require client certificates), as PEM file paths."""

    def __init__(self, ca, cert=None, key=None, server_name=None):
        self.ca, self.cert, self.key, self.server_name = ca, cert, key, server_name

    def credentials(self):
        return grpc.ssl_channel_credentials(_read(self.ca), _read(self.key), _read(self.cert))

    def server_credentials(self):
        """For an observer's own gRPC server: this certificate and key, clients verified by the CA."""
        return grpc.ssl_server_credentials([(_read(self.key), _read(self.cert))], _read(self.ca),
                                           require_client_auth=True)


def _read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def _channel(target, tls, max_message_bytes):
    options = [("grpc.max_send_message_length", max_message_bytes),
               ("grpc.max_receive_message_length", max_message_bytes)]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, tls.credentials(), options=options)


class ParameterServerClient:
    """One participant of the parameter server's rounds (one per process, or per thread)."""

    def __init__(self, target, participant_id, tls=None, timeout_s=300.0, max_message_bytes=(1 << 31) - 1):
        self.target = target
        self.participant_id = participant_id
        self.timeout_s = timeout_s
        self.version = None
        self.round_size = 0
        self._channel = _channel(target, tls, max_message_bytes)
        self._stub = ps_pb2_grpc.ParameterServerStub(self._channel)
        self._layout = None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    # --- layout ---------------------------------------------------------------------------------

    def layout(self):
        """The server's layout: an OrderedDict name -> shape (tuple), in flat-vector order."""
        if self._layout is None:
            reply = self._call(self._stub.GetLayout, ps_pb2.GetLayoutRequest())
            self._layout_id = reply.layout_id
            self._layout = collections.OrderedDict((t.name, tuple(t.shape)) for t in reply.tensors)
        return self._layout

    def check(self, module):
        """Raises :class:`LayoutMismatch` naming every difference between the module's
        ``named_parameters()`` and the server's layout."""
        layout = self.layout()
        mine = collections.OrderedDict((n, tuple(p.shape)) for n, p in module.named_parameters())
        problems = []
        for name, shape in layout.items():
            if name not in mine:
                problems.append("the server's %s%s is not a parameter of the module" % (name, list(shape)))
            elif mine[name] != shape:
                problems.append("%s is %s on the server, %s in the module" % (name, list(shape), list(mine[name])))
        for name, shape in mine.items():
            if name not in layout:
                problems.append("the module's %s%s is not in the server's layout" % (name, list(shape)))
        if problems:
            raise errors.LayoutMismatch("the module does not match the server's model (layout %s): %s"
                                        % (self._layout_id, "; ".join(problems)))

    def _params(self, module):
        named = dict(module.named_parameters())
        return [named[name] for name in self.layout()]

    def init_model(self, module, exist_ok=False):
        """Gives a server started without a model (``ps --model init``) this module's model: its
        ``named_parameters()`` (in that order, as float32) become the server's layout and their
        current values its version 0. The first writer wins.

        Returns True when this call set the model. A server that already holds a model of the
        same layout raises :class:`AlreadyInitialized`, or with ``exist_ok=True`` returns False (so
        every trainer can call it, and all then ``fetch`` the winner's values); one of another
        layout raises :class:`LayoutMismatch` naming the differences. Bad input is refused by the
        server (:class:`BadRequest`, :class:`ShapeMismatch`, :class:`NonFinite`,
        :class:`TooLarge`) and changes nothing.
        """
        tensors, flat = [], []
        for name, p in module.named_parameters():
            tensors.append(ps_pb2.TensorSpec(name=name, shape=list(p.shape), dtype="F32"))
            flat.append(p.detach().reshape(-1).to(torch.float32).cpu())
        values = torch.cat(flat) if flat else torch.zeros(0)
        request = ps_pb2.InitModelRequest(
            participant_id=self.participant_id, tensors=tensors,
            values=tensor_pb2.Tensor(shape=[values.numel()],
                                     data=values.numpy().astype("<f4", copy=False).tobytes()))
        try:
            reply = self._call(self._stub.InitModel, request)
        except errors.AlreadyInitialized:
            if not exist_ok:
                raise
            return False
        self._layout_id = reply.layout.layout_id
        self._layout = collections.OrderedDict((t.name, tuple(t.shape)) for t in reply.layout.tensors)
        return True

    # --- rounds ---------------------------------------------------------------------------------

    def _load(self, reply, module):
        if self._layout is not None and reply.layout_id and reply.layout_id != self._layout_id:
            # the server was restarted with another model: read its layout again and re-check
            self._layout = None
            if module is not None:
                self.check(module)
        self.version = reply.model_version
        self.round_size = reply.round_size
        flat = torch.frombuffer(bytearray(reply.parameters.data), dtype=torch.float32)
        if module is not None:
            params = self._params(module)
            if flat.numel() != sum(p.numel() for p in params):
                raise errors.LayoutMismatch("the server sent %d parameters, the module has %d"
                                            % (flat.numel(), sum(p.numel() for p in params)))
            with torch.no_grad():
                at = 0
                for p in params:
                    n = p.numel()
                    p.copy_(flat[at:at + n].view_as(p))
                    at += n
        return flat

    def fetch(self, module=None):
        """Fetches the current model (and registers this participant); loads it into ``module`` in
        place when given (after checking its layout). Returns the model version."""
        if module is not None:
            self.check(module)
        reply = self._call(self._stub.GetModel, ps_pb2.GetModelRequest(participant_id=self.participant_id))
        self._load(reply, module)
        return self.version

    def update_and_fetch(self, module):
        """Sends the module's gradients (``p.grad``; a parameter without one counts as zeros) for
        the version last fetched, waits for the round, and loads the model the round produced.
        Returns the new version. Raises :class:`StaleVersion`/:class:`FutureVersion` when the server
        moved on (fetch and recompute), and the other refusals as their exceptions."""
        if self.version is None:
            raise RuntimeError("call fetch(module) before update_and_fetch: gradients must be computed on "
                               "the server's model")
        grads = []
        for p in self._params(module):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            grads.append(g.detach().reshape(-1).to(torch.float32).cpu())
        flat = torch.cat(grads)
        tensor = tensor_pb2.Tensor(shape=[flat.numel()], data=flat.numpy().astype("<f4", copy=False).tobytes())
        reply = self._call(self._stub.UpdateAndFetchModel, ps_pb2.UpdateRequest(
            participant_id=self.participant_id, model_version=self.version, gradients=tensor))
        self._load(reply, module)
        return self.version

    def parameters(self):
        """The current model as an OrderedDict name -> tensor (a fresh fetch, no registration)."""
        reply = self._call(self._stub.GetModel, ps_pb2.GetModelRequest())
        layout = self.layout()
        flat = torch.frombuffer(bytearray(reply.parameters.data), dtype=torch.float32)
        out, at = collections.OrderedDict(), 0
        for name, shape in layout.items():
            n = 1
            for d in shape:
                n *= d
            out[name] = flat[at:at + n].reshape(shape).clone()
            at += n
        return out, reply.model_version

    def export(self, path):
        """Writes the server's current model to a safetensors file; returns its version."""
        from . import safetensors
        tensors, version = self.parameters()
        safetensors.save(tensors, path, metadata={"model_version": version, "layout_id": self._layout_id})
        return version

    def leave(self):
        """Leaves the rounds for good: they stop waiting for this participant."""
        from .v1 import membership_pb2
        self._call(self._stub.Leave, membership_pb2.LeaveRequest(participant_id=self.participant_id))
