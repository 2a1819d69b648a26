"""
Test a controller against the plant: ``dip_test``, ``run_campaign``, a pytest fixture.

The names below are imported on first use, so that loading the pytest
plugin (``pytest_plugin``, registered for every pytest session once the
package is installed) costs a suite that does not use it nothing.
"""

__all__ = ['CampaignResult', 'EpisodeResult', 'run_campaign', 'SetupError']


def __getattr__(name):
    if name in __all__:
        from . import runner
        return getattr(runner, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
