"""ament_pep257 over the package, as in every ROS 2 Python package."""

import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    # In the test: a module-level skip would end a colcon test's collection.
    ament_pep257 = pytest.importorskip('ament_pep257.main', reason='ament_pep257 is not installed')
    rc = ament_pep257.main(argv=['.', 'test'])
    assert rc == 0, 'Found code style errors / warnings'
