"""Environments for observers: CartPole-v1, as /work/shared/reference/cartpole-v1.md and Gym define it.

An observer serves any object with ``reset() -> state`` and ``step(action) -> (state, reward, done)``
(a Gym-style 5-tuple ``(state, reward, terminated, truncated, info)`` works too); this module has
the tutorial's CartPole-v1, seeded, with no gym needed. The PyTorch reference
(tools/reference/rl_reference.py) uses the same class.
"""
import math
import random

import torch


class CartPole:
    """CartPole-v1 (Barto, Sutton & Anderson; Gym's constants), state in double precision."""
    GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    TOTAL_MASS = MASSPOLE + MASSCART
    POLEMASS_LENGTH = MASSPOLE * LENGTH
    THETA_LIMIT = 12 * 2 * math.pi / 360
    X_LIMIT = 2.4
    MAX_STEPS = 500

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.state = None
        self.steps = 0
        self.done = True

    def reset(self):
        self.state = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.steps = 0
        self.done = False
        return self.observation()

    def observation(self):
        return torch.tensor(self.state, dtype=torch.float32)

    def step(self, action):
        if action not in (0, 1):
            raise ValueError(f"action must be 0 or 1, got {action}")
        if self.done:
            raise RuntimeError("step after the episode ended: reset first")
        x, x_dot, theta, theta_dot = self.state
        force = self.FORCE_MAG if action == 1 else -self.FORCE_MAG
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + self.POLEMASS_LENGTH * theta_dot ** 2 * sintheta) / self.TOTAL_MASS
        thetaacc = (self.GRAVITY * sintheta - costheta * temp) / (
            self.LENGTH * (4.0 / 3.0 - self.MASSPOLE * costheta ** 2 / self.TOTAL_MASS))
        xacc = temp - self.POLEMASS_LENGTH * thetaacc * costheta / self.TOTAL_MASS
        x = x + self.TAU * x_dot
        x_dot = x_dot + self.TAU * xacc
        theta = theta + self.TAU * theta_dot
        theta_dot = theta_dot + self.TAU * thetaacc
        self.state = [x, x_dot, theta, theta_dot]
        self.steps += 1
        terminated = x < -self.X_LIMIT or x > self.X_LIMIT or theta < -self.THETA_LIMIT or theta > self.THETA_LIMIT
        truncated = self.steps >= self.MAX_STEPS
        self.done = terminated or truncated
        return self.observation(), 1.0, self.done
