"""
A dynamics model of the user's, stepped by the plant in place of its own.

Any object with ``step(state, u, dt)`` works, and so does the original
project's ``step(x, u)``, which advances its own ``dt`` (its attribute, if it
has one, must equal the plant's).  Which of the two is detected from the
signature.  Every state it returns is checked: six finite numbers, or the
plant halts naming the model and what it returned.  Joint torques and
parameter draws need the built-in closed form, so a plant with a user's model
refuses them (:meth:`refusal`); a force disturbance on the cart is added to
the control.
"""

import inspect
import math

NO_DISTURBANCE_ERROR = 'a custom dynamics model takes no joint torques (tau1, tau2)'


class UserDynamics:
    """The plant's view of a user's model: the built-in model's ``step`` signature."""

    custom = True

    def __init__(self, model, dt):
        step = getattr(model, 'step', None)
        if not callable(step):
            raise TypeError(f'a dynamics model needs a step(state, u, dt) method; '
                            f'{type(model).__name__} has none')
        self.model = model
        self.name = type(model).__name__
        self.dt = float(dt)
        self.own_dt = _positional(step) == 2          # the original project's step(x, u)
        model_dt = getattr(model, 'dt', None)
        if self.own_dt and isinstance(model_dt, (int, float)) and \
                not math.isclose(model_dt, self.dt, rel_tol=1e-12):
            raise ValueError(f'dynamics model {self.name} steps dt={model_dt:g} s, the plant '
                             f'dt={self.dt:g} s: they must be equal')
        self._step = step
        self.problem = None          # why the last step was refused, for the halt reason
        params = getattr(model, 'params', None)
        self.params = params if hasattr(params, 'link1_length') else None

    @property
    def whole_periods(self):
        """Return True when the model can only advance a whole period (its own dt)."""
        return self.own_dt

    def describe(self):
        """Return one line on the model (for the log and the episode record)."""
        how = 'step(x, u) over its own dt' if self.own_dt else 'step(state, u, dt)'
        return f'custom dynamics model {self.name} ({how})'

    def step(self, state, u, dt, disturbance=None):
        """Advance ``state`` by ``dt`` under ``u`` (plus a cart force disturbance)."""
        if disturbance is not None:
            force, tau1, tau2 = disturbance
            if tau1 or tau2:
                return self._refuse(NO_DISTURBANCE_ERROR)
            u = u + force
        if self.own_dt:
            if not math.isclose(dt, self.dt, rel_tol=1e-9):
                return self._refuse(f'{self.name}.step(x, u) advances a whole period; asked '
                                    f'for {dt:g} s')
            out = self._step(state, u)
        else:
            out = self._step(state, u, dt)
        try:
            values = tuple(float(v) for v in out)
        except (TypeError, ValueError):
            return self._refuse(f'{self.name}.step returned {out!r}, not six numbers')
        if len(values) != 6:
            return self._refuse(f'{self.name}.step returned {len(values)} values, not six')
        if not all(math.isfinite(v) for v in values):
            return self._refuse(f'{self.name}.step returned a non-finite state {values}')
        return values

    def _refuse(self, why):
        self.problem = why
        return (math.nan,) * 6


def _positional(function):
    """Return how many positional parameters ``function`` takes (bound: without self)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 3
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 3
    return sum(1 for p in parameters if p.kind in kinds)
