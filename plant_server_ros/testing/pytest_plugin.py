"""
The ``dip_campaign`` pytest fixture, for the suites that ask for it.

A suite turns it on in its ``conftest.py`` (or with ``pytest -p
plant_server_ros.testing.pytest_plugin``); it has no ``pytest11`` entry
point, so it is not loaded into every pytest run of a workspace where the
package is installed::

    pytest_plugins = ['plant_server_ros.testing.pytest_plugin']

    def test_my_controller(dip_campaign):
        assert dip_campaign('campaign.yaml', command=['python', 'my_ctrl.py', '{port}']).passed

``dip_campaign(source, command=None, controller=None, **options)`` is
:func:`~.runner.run_campaign` with its outputs in the test's temporary
directory (``out``, ``junit.xml``, ``results.json``).  Its result's repr
lists each failed episode with its failed criteria (measured value and
limit), so a failing ``assert ....passed`` reads as the reason; a failed
test that used the fixture also gets a ``dip_campaign`` section with the
whole table (pytest shortens a long repr).  Loaded, it costs a suite that
does not use the fixture nothing: the report hook only looks for the
fixture's results, and the runner is imported only when the fixture is used.
"""

import itertools

import pytest

_RESULTS = '_dip_campaign_results'


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Add the table of every campaign a failed test ran to its report."""
    outcome = yield
    report = outcome.get_result()
    results = getattr(item, _RESULTS, None)
    if results and report.when == 'call' and report.failed:
        from .outputs import table
        for n, result in enumerate(results, 1):
            report.sections.append((f'dip_campaign {n}: {result.source}', table(result)))


@pytest.fixture
def dip_campaign(tmp_path, request):
    """Return ``run(source, command=None, controller=None, **options)`` -> CampaignResult."""
    from .runner import run_campaign, SetupError
    count = itertools.count(1)
    results = []
    setattr(request.node, _RESULTS, results)

    def run(source, command=None, controller=None, **options):
        n = next(count)
        out = tmp_path / f'dip_campaign_{n}'
        options.setdefault('out', out)
        options.setdefault('junit', tmp_path / f'dip_campaign_{n}_junit.xml')
        options.setdefault('json_file', tmp_path / f'dip_campaign_{n}_results.json')
        try:
            result = run_campaign(source, command, controller, **options)
            results.append(result)
            return result
        except SetupError as exc:
            why = str(exc)
        pytest.fail(f'dip_campaign: {why}', pytrace=False)
    return run
