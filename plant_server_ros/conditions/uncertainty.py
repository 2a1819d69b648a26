"""
Parameter uncertainty: each episode runs on a plant drawn around the nominal one.

Every physical parameter can be scaled by ``1 + U(-f, f)`` with a fraction
``f`` of its own or of its group's (``masses``, ``lengths``, ``coms``,
``inertias``, ``frictions``; the original project's ``physics_uncertainty``
block uses 5 % and 10 %).  A parameter's own fraction wins over its group's.
The draws come from the episode's seeded generator, in the fixed order of
:data:`PARAMETERS`, so a run can be traced to the plant it ran on.
"""

from dataclasses import asdict, replace
import math
import random

from ..physics.dynamics import DIPParams

GROUPS = {
    'masses': ('cart_mass', 'link1_mass', 'link2_mass'),
    'lengths': ('link1_length', 'link2_length'),
    'coms': ('link1_com', 'link2_com'),
    'inertias': ('link1_inertia', 'link2_inertia'),
    'frictions': ('cart_friction', 'joint1_friction', 'joint2_friction'),
    'gravity': ('gravity',),
}
PARAMETERS = tuple(name for names in GROUPS.values() for name in names)
# The largest fraction (a parameter drawn down to 1 % of its nominal value at
# worst); the settings table's range reads it here.
MAX_FRACTION = 0.99


class ParameterUncertainty:
    """Fractions per parameter (after groups); :meth:`draw` scales a DIPParams."""

    def __init__(self, fractions=None, prefix='uncertainty'):
        self.fractions = {}
        for key, value in (fractions or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or not 0.0 <= value <= MAX_FRACTION:
                raise ValueError(f'{prefix}.{key} must be a fraction in [0, {MAX_FRACTION:g}], '
                                 f'got {value!r}')
            if key in GROUPS:
                for name in GROUPS[key]:
                    self.fractions.setdefault(name, float(value))
            elif key not in PARAMETERS:
                raise ValueError(f'{prefix}.{key} is neither a parameter nor a group '
                                 f'(groups: {sorted(GROUPS)})')
        for key, value in (fractions or {}).items():
            if key in PARAMETERS:
                self.fractions[key] = float(value)     # its own fraction wins

    @property
    def active(self):
        """Return True when some parameter is drawn at all."""
        return any(self.fractions.values())

    def draw(self, nominal, rng):
        """Return ``nominal`` (a DIPParams) with each uncertain parameter scaled at random."""
        scaled = {}
        for name in PARAMETERS:
            fraction = self.fractions.get(name, 0.0)
            if fraction:
                scaled[name] = getattr(nominal, name) * (1.0 + rng.uniform(-fraction, fraction))
        return replace(nominal, **scaled)

    def draw_lanes(self, nominal, params, lanes, seeds):
        """
        Draw the parameters of ``lanes`` (indices) into ``params`` (a LaneParams), in place.

        Lane ``i`` draws as a plant playing the scenario with seed
        ``seeds[i]`` does (its ``f'{seed}:uncertainty'`` stream): the same
        numbers to the bit, the same plant.
        """
        for i in lanes:
            drawn = self.draw(nominal, random.Random(f'{int(seeds[i])}:uncertainty'))
            for name in PARAMETERS:
                getattr(params, name)[i] = getattr(drawn, name)


def as_dict(params):
    """Return the parameters as a plain dict (for logs and the episode record)."""
    return asdict(params) if isinstance(params, DIPParams) else dict(params)
