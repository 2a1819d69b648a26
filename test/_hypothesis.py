"""
Hypothesis's ``given``, ``settings`` and ``st``, or stand-ins under which each property test skips.

A test module that imports hypothesis at its top, or skips there without it,
ends the collection of the whole folder under launch_testing's pytest plugin
(``colcon test``; see test_collection.py).  Import these from here instead:
without hypothesis only the ``@given`` tests skip.
"""

import pytest

try:
    from hypothesis import given, settings, strategies as st
except ImportError:
    HAVE_HYPOTHESIS = False
    REASON = 'hypothesis is not installed (requirements/test.txt)'

    class _Strategy:
        """Any strategy: every attribute, call, ``|`` or ``map`` of it is one too."""

        def __getattr__(self, name):
            if name.startswith('__'):
                raise AttributeError(name)
            return self

        def __call__(self, *args, **kwargs):
            return self

        def __or__(self, other):
            return self

    st = _Strategy()

    def given(*args, **kwargs):
        return pytest.mark.skip(reason=REASON)

    def settings(*args, **kwargs):
        return lambda test: test
else:
    HAVE_HYPOTHESIS = True

__all__ = ['given', 'HAVE_HYPOTHESIS', 'settings', 'st']
