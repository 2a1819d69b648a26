"""
A set's verdict: the pass rate of N seeded episodes, its interval, the worst ones.

A campaign entry with ``episodes: N`` is a Monte-Carlo sample of the
plants (and noise, faults...) its scenario allows; each episode is judged
by the scenario's criteria as usual, and the set by its ``pass_rate``
criterion (:data:`~..conditions.criteria.SET_CRITERIA`): it holds when the
one-sided Clopper-Pearson lower bound of the pass rate at ``confidence``
is at least ``min`` — "passes at least 99 % of the plants, with 95 %
confidence".  Clopper-Pearson is exact (never optimistic), which is what a
sign-off wants; a set of 299 passes in 299 episodes is the smallest that
shows 99 % at 95 %.  A set without a criterion passes when all its
episodes do, as any episode of a campaign.

The interval reported is the two-sided exact interval at ``confidence``
(scipy's ``binomtest(...).proportion_ci(method='exact')``); the verdict
uses the one-sided lower bound, ``beta.ppf(1 - confidence, k, n - k + 1)``.
"""

from dataclasses import asdict, dataclass, field
import shlex

from ..conditions.criteria import DEFAULT_CONFIDENCE

WORST = 5                 # worst episodes kept (and drawn, and printed with a replay command)


@dataclass
class SetResult:
    """The verdict on one set of episodes."""

    name: str
    entry: int
    episodes: int
    passed_episodes: int
    rate: float
    lower: float              # the one-sided lower bound at ``confidence`` (the verdict's)
    interval: tuple           # two-sided exact interval at ``confidence``
    confidence: float
    minimum: float = None     # pass_rate.min, None without a criterion
    passed: bool = False
    failures: list = field(default_factory=list)
    worst: list = field(default_factory=list)     # dicts: index, name, seed, why, replay
    indices: list = field(default_factory=list)   # the run's episode indices of the set

    def to_dict(self):
        """Return a JSON-ready dict."""
        out = asdict(self)
        out['interval'] = list(self.interval)
        out.pop('indices')
        return out

    def describe(self):
        """Return the one-line verdict: rate, interval, bound against the minimum."""
        text = (f'{self.passed_episodes}/{self.episodes} passed, rate {self.rate:.4f}, '
                f'{self.confidence:.0%} interval [{self.interval[0]:.4f}, '
                f'{self.interval[1]:.4f}], one-sided lower bound {self.lower:.4f}')
        if self.minimum is not None:
            text += f' {">=" if self.lower >= self.minimum else "<"} min {self.minimum:g}'
        return text


def lower_bound(k, n, confidence):
    """Return the one-sided Clopper-Pearson lower bound of a rate of ``k`` in ``n``."""
    from scipy.stats import beta
    if n <= 0 or k <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, k, n - k + 1))


def interval(k, n, confidence):
    """Return the two-sided exact (Clopper-Pearson) interval of ``k`` in ``n``."""
    from scipy.stats import binomtest
    if n <= 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method='exact')
    return (float(ci.low), float(ci.high))


def badness(e):
    """Return a sort key: failed first, then the largest angle, then the cart's excursion."""
    m = e.metrics
    theta = max(m.get('max_abs_th1') or 0.0, m.get('max_abs_th2') or 0.0)
    return (not e.passed, not e.metrics.get('steps'), theta, m.get('max_abs_x') or 0.0)


def replay_command(replay, seed):
    """Return the command that plays the episode of ``seed`` alone."""
    if replay is None:
        return f'run_campaign(..., only={seed})'
    head, command = replay
    tail = ['--'] + list(command) if command else []
    return shlex.join(list(head) + ['--only', str(seed)] + tail)


def judge_set(episode_set, episodes, replay=None):
    """
    Return the SetResult of ``episode_set`` over its ``episodes`` (EpisodeResults).

    ``replay``: ``(dip_test's words before --only, the controller command)``
    for the printed replay commands.
    """
    n = len(episodes)
    k = sum(1 for e in episodes if e.passed)
    rule = episode_set.criteria.get('pass_rate')
    confidence = rule['confidence'] if rule else DEFAULT_CONFIDENCE
    result = SetResult(episode_set.name, episode_set.entry, n, k, k / n if n else 0.0,
                       lower_bound(k, n, confidence), interval(k, n, confidence), confidence,
                       indices=[e.index for e in episodes])
    if n < episode_set.count:
        result.failures.append(f'only {n} of its {episode_set.count} episodes ran')
    if rule is not None:
        result.minimum = rule['min']
        if result.lower < rule['min']:
            result.failures.append(f'pass_rate: lower bound {result.lower:.4f} at '
                                   f'{confidence:.0%} confidence < min {rule["min"]:g} '
                                   f'({k}/{n} passed)')
    elif k < n:
        result.failures.append(f'{n - k} of its {n} episodes failed (no pass_rate criterion: '
                               'every episode must pass)')
    result.passed = not result.failures
    for e in sorted(episodes, key=badness, reverse=True)[:WORST]:
        result.worst.append({'index': e.index, 'name': e.name, 'seed': e.seed,
                             'passed': e.passed, 'why': '; '.join(e.failures),
                             'max_abs_theta': max(e.metrics.get('max_abs_th1') or 0.0,
                                                  e.metrics.get('max_abs_th2') or 0.0),
                             'replay': replay_command(replay, e.seed)})
    return result
