r"""
A learned policy as a controller process: ``python -m plant_server_ros.clients.policy``.

``dip_test`` runs it like any other controller, so a policy is judged on the
same campaign, conditions and criteria as an LQR::

    dip_test masses_10pct.yaml -- python -m plant_server_ros.clients.policy \\
        --policy runs/ppo/ppo_balance.zip --normalize runs/ppo/vecnormalize.pkl --port {port}

``--policy``: a Stable-Baselines3 model file (``*.zip``, loaded with
``--algo``'s class, PPO by default; deterministic actions), or
``module:callable``: any function of the observation returning the
normalised action.  It sees what the task env showed it in training
(:func:`~..gym.tasks.observe` of the measured state: float32 ``[x, sin th1,
cos th1, sin th2, cos th2, xdot, th1dot, th2dot]``; with ``--normalize``,
standardised by the saved ``VecNormalize`` statistics) and its action in
``[-1, 1]`` is clipped and scaled to ``+/-max_force`` (``--max-force``) as
the task does.  Over the legacy TCP door in lock-step, as ``dip_client``:
RESET, then CONTROL until the plant answers HALTED; then the next episode
on a new connection, until FINISHED (a campaign's end) or, after an
episode, no plant to connect to (``dip_test --per-episode``).

A model file and a ``--normalize`` file are pickles: load only your own.

Exit codes: 0 the episodes ran to their end; 2 a bad argument, policy or
connection (one line says why).
"""

import argparse
import importlib
import os
import pickle
import sys

import numpy as np

from .tcp_client import LegacyClient
from ..gym.tasks import force_of, observe
from ..legacy.protocol import ErrorCode, ProtocolError
from ..runtime.settings import SETTINGS

EXIT_OK, EXIT_ERROR = 0, 2


class PolicyError(Exception):
    """The policy cannot be loaded or gave no usable action."""


def load_callable(spec):
    """Return the callable named by ``module:attribute`` (PolicyError if there is none)."""
    module_name, _, attr = spec.partition(':')
    if not module_name or not attr:
        raise PolicyError(f'--policy must be a model file (.zip) or module:callable, got {spec!r}')
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicyError(f'cannot import {module_name}: {exc}') from None
    for part in attr.split('.'):
        target = getattr(target, part, None)
        if target is None:
            raise PolicyError(f'{module_name} has no {attr}')
    if not callable(target):
        raise PolicyError(f'{spec} is not callable')
    return target


def load_model(path, algo):
    """Return a callable of the observation: the SB3 model's deterministic action."""
    try:
        import stable_baselines3
    except ImportError:
        raise PolicyError('a model file needs stable-baselines3 (pip install '
                          'plant_server_ros[rl])') from None
    cls = getattr(stable_baselines3, algo, None)
    if cls is None:
        raise PolicyError(f'stable_baselines3 has no algorithm {algo!r}')
    try:
        model = cls.load(path, device='cpu')
    except Exception as exc:      # SB3 raises what its unpickler and zipfile raise
        raise PolicyError(f'cannot load {path} as {algo}: {exc}') from None

    def act(obs):
        action, _ = model.predict(obs, deterministic=True)
        return action
    return act


def load_normalizer(path):
    """Return ``f(obs) -> obs`` standardised by a saved VecNormalize's statistics."""
    try:
        with open(path, 'rb') as f:
            stats = pickle.load(f)
        rms, clip, eps = stats.obs_rms, float(stats.clip_obs), float(stats.epsilon)
        mean, std = np.asarray(rms.mean), np.sqrt(np.asarray(rms.var) + eps)
    except Exception as exc:      # a missing file, a pickle of something else
        raise PolicyError(f'cannot read observation statistics from {path}: {exc}') from None

    def normalize(obs):
        return np.clip((obs - mean) / std, -clip, clip).astype(np.float32)
    return normalize


def make_policy(args):
    """Return ``f(measured 6-state) -> force [N]`` from the arguments."""
    if args.policy.endswith('.zip') or os.path.isfile(args.policy):
        act = load_model(args.policy, args.algo)
    else:
        act = load_callable(args.policy)
    normalize = load_normalizer(args.normalize) if args.normalize else (lambda obs: obs)
    max_force = args.max_force

    def controller(state):
        action = np.asarray(act(normalize(observe(state))), dtype=float).reshape(-1)
        if action.size != 1 or not np.isfinite(action[0]):
            raise PolicyError(f'the policy must return one finite action, got {action!r}')
        return float(force_of(action[0], max_force))
    return controller


def run(args, controller):
    """Play episodes until the plant says FINISHED (or is gone after one); return the count."""
    episodes = 0
    while args.episodes is None or episodes < args.episodes:
        try:
            client = LegacyClient(args.host, args.port, args.timeout)
        except OSError:
            if episodes:          # --per-episode: the plant closed after our episode
                return episodes
            raise
        with client:
            try:
                state, _ = client.reset()
                while True:
                    state, _ = client.control(controller(state))
            except ProtocolError as exc:
                if exc.code is ErrorCode.FINISHED:
                    return episodes
                if exc.code is not ErrorCode.HALTED:
                    raise
            except ConnectionError:
                pass              # the plant closed the episode's connection
        episodes += 1
    return episodes


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python -m plant_server_ros.clients.policy',
        description='Run a learned policy as a controller over the legacy TCP protocol '
        '(for dip_test).')
    parser.add_argument('--policy', required=True,
                        help='an SB3 model file (.zip) or module:callable (obs -> action)')
    parser.add_argument('--algo', default='PPO', help='the SB3 class of a model file')
    parser.add_argument('--normalize', help="a saved VecNormalize (.pkl): the observations' "
                        'statistics the policy was trained with')
    parser.add_argument('--host', default=os.environ.get('DIP_HOST', '127.0.0.1'))
    parser.add_argument('--port', type=int, default=int(os.environ.get(
        'DIP_PORT', SETTINGS['port'].default)))
    parser.add_argument('--max-force', type=float, default=SETTINGS['max_force'].default,
                        help='the force of action 1 [N] (the task scales as the plant: '
                        '%(default)s)')
    parser.add_argument('--episodes', type=int, default=None,
                        help='stop after this many (default: until FINISHED)')
    parser.add_argument('--timeout', type=float, default=15.0, help='socket timeout [s]')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not (np.isfinite(args.max_force) and args.max_force > 0):
        print(f'policy: --max-force must be finite and > 0, got {args.max_force}',
              file=sys.stderr)
        return EXIT_ERROR
    try:
        controller = make_policy(args)
        episodes = run(args, controller)
    except PolicyError as exc:
        print(f'policy: {exc}', file=sys.stderr)
        return EXIT_ERROR
    except ProtocolError as exc:
        print(f'policy: protocol error: {exc.code.name}: {exc}', file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f'policy: {exc}', file=sys.stderr)
        return EXIT_ERROR
    print(f'policy: {episodes} episode(s)', file=sys.stderr)
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
