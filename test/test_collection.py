"""
Every test module imports, without skipping, where the optional packages are missing.

``colcon test`` in a ROS workspace runs pytest with launch_testing's plugin
(installed wherever launch_testing is, i.e. in every ROS install).  Its
``pytest_pycollect_makemodule`` hook imports each test module while the
folder is collected, so a module-level ``pytest.skip`` / ``importorskip`` or
an ``ImportError`` there ends the collection of the whole folder: a false
green.  This does what that hook does, one module per fresh interpreter, with
the optional packages hidden: the module must import, and only the tests that
need a missing package may skip.
"""

import os
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

TEST = Path(__file__).resolve().parent
REPO = TEST.parent
# Optional for the package or its tests (none of them is needed to import a test module).
HIDDEN = ('hypothesis', 'gymnasium', 'numba', 'llvmlite', 'flake8', 'ament_flake8',
          'ament_pep257', 'pydocstyle', 'selenium', 'psutil', 'mcap', 'mcap_ros2',
          'websockets', 'launch', 'launch_ros', 'launch_testing', 'ros2launch', 'xacro',
          'sympy', 'matplotlib', 'urdf_parser_py', 'tf2_msgs', 'colcon_core')

PROBE = textwrap.dedent("""
    import importlib
    import importlib.abc
    import sys

    test_dir, repo, name, hidden = sys.argv[1:5]
    hidden = set(hidden.split(','))


    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.partition('.')[0] in hidden:
                raise ModuleNotFoundError(f'No module named {fullname!r} (hidden)', name=fullname)
            return None


    sys.meta_path.insert(0, Hide())
    sys.path[:0] = [test_dir, repo]
    import pytest  # noqa: F401  (pytest is there when a test module is imported)
    import conftest  # noqa: F401  (pytest imports it before the folder's modules)
    try:
        importlib.import_module(name)
    except BaseException as exc:  # pytest.skip raises Skipped, a BaseException
        import traceback
        traceback.print_exc()
        print(f'IMPORT-STOP {type(exc).__name__}: {exc}')
        sys.exit(3)
    print('IMPORTED')
""")


def import_with_optionals_hidden(test_dir, name, hidden=HIDDEN):
    """Import ``name`` from ``test_dir`` in a fresh interpreter; its (returncode, output)."""
    # The run's own domain: conftest then claims none of its own.
    env = {**os.environ, 'ROS_DOMAIN_ID': os.environ.get('ROS_DOMAIN_ID', '0')}
    result = subprocess.run(
        [sys.executable, '-c', PROBE, str(test_dir), str(REPO), name, ','.join(hidden)],
        capture_output=True, text=True, timeout=120, env=env, cwd=str(test_dir))
    return result.returncode, result.stdout + result.stderr


MODULES = sorted(p.stem for p in TEST.glob('test_*.py'))


@pytest.mark.parametrize('name', MODULES)
def test_the_module_imports_with_the_optional_packages_missing(name):
    code, output = import_with_optionals_hidden(TEST, name)
    assert code == 0 and 'IMPORTED' in output, output[-3000:]


@pytest.mark.parametrize('body, stop', [
    ('import pytest\npytest.importorskip("gymnasium")\n', 'Skipped'),
    ('import pytest\npytest.skip("no", allow_module_level=True)\n', 'Skipped'),
    ('import hypothesis\n', 'ModuleNotFoundError'),
    ('from mcap.reader import make_reader\n', 'ModuleNotFoundError'),
])
def test_the_probe_sees_what_stops_a_collection(tmp_path, body, stop):
    (tmp_path / 'conftest.py').write_text('')
    (tmp_path / 'test_probe.py').write_text(body)
    code, output = import_with_optionals_hidden(tmp_path, 'test_probe')
    assert code == 3 and f'IMPORT-STOP {stop}' in output, output


def test_the_probe_passes_a_module_that_skips_only_its_tests(tmp_path):
    (tmp_path / 'conftest.py').write_text('')
    (tmp_path / 'test_probe.py').write_text(
        'import pytest\n'
        'pytestmark = pytest.mark.skipif(True, reason="no")\n'
        'def test_x():\n    pytest.importorskip("hypothesis")\n')
    code, output = import_with_optionals_hidden(tmp_path, 'test_probe')
    assert code == 0 and 'IMPORTED' in output, output


# launch (imported by launch_testing's plugin, so in every colcon test, and by
# test_launch.py) sets a logger class whose loggers do not propagate: from then
# on a new logger's records never reach the root logger, where caplog and a
# root FileHandler listen.  These two tests failed in the full run that way.
QUIET_LOGGERS = """
import logging


class LaunchLikeLogger(logging.getLoggerClass()):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.propagate = False


logging.setLoggerClass(LaunchLikeLogger)
"""


def test_root_logging_works_after_launch_changed_the_logger_class(tmp_path):
    (tmp_path / 'launch_like_plugin.py').write_text(QUIET_LOGGERS)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get('PYTHONPATH')])])}
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '-p', 'launch_like_plugin',
         'test/test_lab_network.py::test_refusals_are_counted_and_logged_at_most_once_a_second',
         'test/test_seed_examples.py::test_example_4_logging_to_a_file'],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(REPO))
    assert result.returncode == 0 and '2 passed' in result.stdout, result.stdout[-3000:]
