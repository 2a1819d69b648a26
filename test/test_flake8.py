"""ament_flake8 over the package, as in every ROS 2 Python package."""

import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    # In the test: a module-level skip would end a colcon test's collection.
    ament_flake8 = pytest.importorskip('ament_flake8.main', reason='ament_flake8 is not installed')
    rc, errors = ament_flake8.main_with_errors(argv=[])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
