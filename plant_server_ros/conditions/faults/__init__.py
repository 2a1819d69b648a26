"""
Faults: what breaks on a rig, on a timeline, exactly and reproducibly (no ROS).

The other conditions model healthy-but-imperfect hardware; a fault is the
hardware failing: a motor that loses torque or sticks, an encoder that
jumps, friction that grows as the rig warms, a failure that comes and goes.

- :mod:`.spec`: the validated :class:`Fault` and its written forms (a
  mapping, a line of text, a live message),
- :mod:`.kinds`: every kind, its spec and what it does, to one plant and to
  N lanes (the registry :data:`KINDS`),
- :mod:`.patterns`: the window and level over time (constant, ramp,
  intermittent, sine), for one plant and N lanes,
- :mod:`.fault_set`: the faults of one plant's episode (:class:`FaultSet`),
- :mod:`.lanes`: the faults of a batch's lanes (:class:`FaultLanes`).

docs/faults.md has the table of kinds and what each does, exactly.
"""

from .fault_set import fault_stream, FaultSet
from .kinds import FaultError, KINDS, MOTOR, NONFINITE, PARAMETERS
from .lanes import FaultLanes
from .patterns import PATTERN_KEYS, PATTERNS
from .spec import COMMON_KEYS, Fault, from_text, parse_list, parse_live

__all__ = ['COMMON_KEYS', 'Fault', 'FaultError', 'FaultLanes', 'FaultSet', 'KINDS', 'MOTOR',
           'NONFINITE', 'PARAMETERS', 'PATTERN_KEYS', 'PATTERNS', 'fault_stream', 'from_text',
           'parse_list', 'parse_live']
