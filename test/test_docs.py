"""The README and docs/ against the code: links, commands, flags, parameters, shipped files."""

from pathlib import Path
import re

from plant_server_ros.conditions.sensors import CHANNELS
from plant_server_ros.server import config as server_config
from plant_server_ros.server.cli import build_parser
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / 'docs'
README = REPO / 'README.md'
PAGES = [README] + sorted(DOCS.rglob('*.md'))
# The project's shared copy of the contract, beside the repository (absent in a clone).
SHARED_PROTOCOL = REPO.parent / 'shared' / 'PROTOCOL.md'
SETTINGS_GROUPS = ('plant', 'physics', 'conditions', 'bridge')
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^(```|~~~).*?^\1[ \t]*$', re.M | re.S)


def prose(text):
    """Return ``text`` without fenced code blocks or inline code (no links live there)."""
    return re.sub(r'`[^`\n]*`', '', FENCE.sub('', text))


def relative_links(page):
    return [t for t in LINK.findall(prose(page.read_text(encoding='utf-8')))
            if not re.match(r'[a-z][a-z0-9+.-]*:', t)]


def cells(line):
    r"""Return the cells of a Markdown table row (``\|`` is an escaped bar)."""
    return [c.strip().replace('\\|', '|') for c in re.split(r'(?<!\\)\|', line.strip())[1:-1]]


def settings_tables():
    """Return ``{group: [row cells]}`` of the tables between the settings markers."""
    text = (DOCS / 'parameters.md').read_text(encoding='utf-8')
    found = {}
    for group, body in re.findall(r'<!-- settings:begin (\w+) -->\n(.*?)<!-- settings:end \1 -->',
                                  text, re.S):
        lines = [ln for ln in body.strip().splitlines() if ln.startswith('|')]
        found[group] = [cells(ln) for ln in lines[2:]]
    return found


def flat(tree, prefix=''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from flat(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


def shipped_parameters():
    """Return ``{node: {parameter: default}}`` of config/plant_server.yaml."""
    tree = yaml.safe_load((REPO / 'config' / 'plant_server.yaml').read_text())
    return {node: dict(flat(tree[f'/**/{node}']['ros__parameters']))
            for node in ('plant', 'bridge')}


def numbers(text):
    return [float(n) for n in re.findall(r'-?\d+(?:\.\d+)?(?:e-?\d+)?', text)]


# -- links and names ------------------------------------------------------------
@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_names_an_existing_file_without_an_anchor(page):
    # Anchors are left out: GitHub and Sphinx/MyST spell heading anchors differently.
    for target in relative_links(page):
        assert '#' not in target, f'{page.name}: link {target} has an anchor'
        assert (page.parent / target).exists(), f'{page.name}: link {target} is broken'


def test_every_docs_page_is_reachable_from_the_readme():
    seen, todo = set(), [README]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != '.md':
            continue
        seen.add(page)
        todo += [(page.parent / t).resolve() for t in relative_links(page)]
    assert {p.resolve() for p in PAGES} <= seen


def test_readme_opens_with_the_two_commands_ci_and_users_run():
    text = README.read_text(encoding='utf-8')
    first_block = re.search(r'```bash\n(.*?)```', text, re.S)
    assert first_block and text.index(first_block.group(0)) < 40, 'no command block on top'
    commands = [ln.split('#')[0].strip() for ln in first_block.group(1).splitlines()]
    assert commands == ['scripts/hil.sh', 'scripts/test.sh']
    assert 'scripts/test.sh' in (REPO / '.ci' / 'run').read_text()


def python_blocks(page, info='python'):
    """Return the bodies of the fenced code blocks of ``page`` whose info string is ``info``."""
    text = page.read_text(encoding='utf-8')
    return re.findall(rf'^```{re.escape(info)}[ \t]*\n(.*?)^```[ \t]*$', text, re.M | re.S)


def test_the_plant_server_examples_name_files_that_exist():
    # A path or a shipped scenario by name (config/scenarios); no example file that is not there.
    blocks = python_blocks(DOCS / 'plant_server.md')
    assert blocks
    quoted_file = r"['\"]([^'\"\s]+\.(?:ya?ml|json|mcap))['\"]"
    named = [n for b in blocks for n in re.findall(quoted_file, b)]
    missing = [n for n in named if not (REPO / n).is_file()
               and not (REPO / 'config' / 'scenarios' / n).is_file()]
    assert not missing, f'docs/plant_server.md names files that do not exist: {missing}'


def test_the_plant_server_page_names_the_exception_plant_server_raises():
    from plant_server_ros import PlantServer
    with pytest.raises(ValueError) as refused:
        PlantServer(cfg={'simulation': {'dt': -1.0}}, bind_addr=('127.0.0.1', 0))
    name = type(refused.value).__name__
    text = (DOCS / 'plant_server.md').read_text(encoding='utf-8')
    assert f'raises `{name}`' in text and 'raises `ConfigError`' not in text
    assert f'raises `{name}`' in (DOCS / 'parameters.md').read_text(encoding='utf-8')


def test_the_controller_authors_page_says_halted_ends_a_scenario_and_its_model_code_runs():
    page = DOCS / 'test_your_controller.md'
    assert re.search(r"scenario's `duration` is over", page.read_text(encoding='utf-8'))
    blocks = python_blocks(page, 'python doc:run')
    assert blocks and any('.linearize()' in b for b in blocks)
    for block in blocks:
        exec(compile(block, str(page), 'exec'), {'__name__': 'doc_example'})


def test_readme_says_the_commands_are_in_the_venv():
    # After scripts/hil.sh, dip_test is in .venv/bin, not on PATH.
    top = '\n'.join(README.read_text(encoding='utf-8').splitlines()[:20])
    assert '.venv/bin' in top and 'source .venv/bin/activate' in top


def test_readme_is_a_front_page_that_names_the_original_project():
    text = README.read_text(encoding='utf-8')
    assert len(text.splitlines()) <= 90
    assert 'dip-smc-pso' in text


def test_every_console_script_is_documented():
    scripts = re.findall(r"f'(\w+) = \{PACKAGE\}", (REPO / 'setup.py').read_text())
    assert len(scripts) >= 7
    text = '\n'.join(p.read_text(encoding='utf-8') for p in PAGES)
    missing = [s for s in scripts if not re.search(rf'\b{s}\b', text)]
    assert not missing, f'console scripts not in the docs: {missing}'


def test_protocol_page_is_the_projects_shared_copy():
    if not SHARED_PROTOCOL.exists():
        pytest.skip(f'no shared copy of the contract at {SHARED_PROTOCOL}')
    assert (DOCS / 'PROTOCOL.md').read_bytes() == SHARED_PROTOCOL.read_bytes()


def test_every_ros_topic_and_service_is_in_the_interfaces_table():
    pytest.importorskip('rclpy', reason='the contract module defines QoS with rclpy')
    from plant_server_ros.ros import contract
    text = (DOCS / 'ros.md').read_text(encoding='utf-8')
    rows = {cells(ln)[0].strip('`') for ln in text.splitlines() if ln.startswith('| `')}
    names = [getattr(contract, n) for n in ('STATE', 'GROUND_TRUTH', 'EPISODE', 'CONTROL',
                                            'RESET_TO', 'RESET', 'ESTOP', 'DISTURBANCE',
                                            'EVENTS', 'EPISODE_INFO', 'MARKERS',
                                            'JOINT_STATES', 'TF', 'CLOCK')]
    assert set(names) <= rows, set(names) - rows


# -- dip_plant_server ---------------------------------------------------------------
def test_dip_plant_server_synopsis_and_flag_table_list_every_flag():
    text = (DOCS / 'plant_server.md').read_text(encoding='utf-8')
    synopsis = re.search(r'```bash\n(dip_plant_server .*?)```', text, re.S).group(1)
    table = {cells(ln)[0].strip('`').split()[0] for ln in text.splitlines()
             if ln.startswith('| `--')}
    flags = [a.option_strings[-1] for a in build_parser()._actions if a.option_strings
             and a.option_strings[-1] != '--help']
    for flag in flags:
        assert re.search(rf'\[{flag}\b', synopsis), f'{flag} not in the synopsis'
        assert flag in table, f'{flag} not in the flag table'
    assert table <= set(flags), table - set(flags)


def test_flag_table_gives_each_flags_default():
    text = (DOCS / 'plant_server.md').read_text(encoding='utf-8')
    table = {cells(ln)[0].strip('`').split()[0]: cells(ln)[1] for ln in text.splitlines()
             if ln.startswith('| `--')}
    for action in build_parser()._actions:
        flag = action.option_strings[-1] if action.option_strings else None
        if flag in table:
            for value in (action.default, action.const):
                if value is not None:
                    assert str(value) in table[flag], f'{flag}: {value} not in the table'


def test_every_launch_argument_is_in_the_launch_table():
    declared = re.findall(r"DeclareLaunchArgument\(\s*'(\w+)'",
                          (REPO / 'launch' / 'hil.launch.py').read_text())
    assert 'params_file' in declared
    text = (DOCS / 'ros.md').read_text(encoding='utf-8')
    rows = {cells(ln)[0].strip('`') for ln in text.splitlines() if ln.startswith('| `')}
    assert set(declared) <= rows, set(declared) - rows


def test_glossary_defines_the_words_the_readme_uses():
    text = (DOCS / 'glossary.md').read_text(encoding='utf-8')
    terms = set(re.findall(r'^\*\*([^*]+)\*\*', text, re.M))
    for word in ('dip-smc-pso', 'door', 'real time', 'lock-step', 'sample', 'episode',
                 'scenario', 'campaign', 'fail-safe'):
        assert any(term.startswith(word) for term in terms), word
    assert any('HALTED' in term for term in terms)


# -- the shipped scenario files -----------------------------------------------------
def test_the_scenario_files_shown_are_the_shipped_ones_verbatim():
    text = (DOCS / 'conditions.md').read_text(encoding='utf-8')
    shown = re.findall(r'`config/scenarios/([\w.]+)`, verbatim:\n\n```yaml\n(.*?)```', text,
                       re.S)
    assert {name for name, _ in shown} >= {'push_recovery.yaml', 'campaign.yaml'}
    for name, body in shown:
        assert body == (REPO / 'config' / 'scenarios' / name).read_text(), name


# -- the parameter tables -------------------------------------------------------------
def test_settings_tables_have_their_markers_and_seven_columns():
    tables = settings_tables()
    assert tuple(tables) == SETTINGS_GROUPS
    for group, rows in tables.items():
        assert rows, group
        for row in rows:
            assert len(row) == 7, f'{group}: {row}'


def test_every_shipped_parameter_has_one_row_with_its_default():
    rows = {}
    for group, table in settings_tables().items():
        for row in table:
            name = row[0].strip('`')
            assert (group, name) not in rows, f'{name} twice in {group}'
            rows[group if group == 'bridge' else 'plant', name] = row
    for node, params in shipped_parameters().items():
        for name, default in params.items():
            row = rows.get((node, name))
            assert row is not None, f'{node} parameter {name} has no row'
            cell = row[2]
            if isinstance(default, bool) or isinstance(default, str):
                assert f'`{default}`' in cell or (default == '' and '`""`' in cell), (name, cell)
            elif isinstance(default, list):
                assert numbers(cell)[:len(default)] == [float(v) for v in default], (name, cell)
            else:
                assert numbers(cell)[0] == float(default), (name, cell)


def test_every_key_of_the_original_config_is_named_with_its_ros_parameter():
    physics = {row[0].strip('`'): row[1] for row in settings_tables()['physics']}
    for key, setting in server_config.KEYS.items():
        if key.startswith('physics.'):
            assert f'`{key}`' in physics[setting.name], key
    text = (DOCS / 'parameters.md').read_text(encoding='utf-8')
    for key in server_config.KEYS:
        assert f'`{key}`' in text, f'config key {key} not in parameters.md'


def test_sensor_arrays_are_documented_per_channel():
    rows = {row[0].strip('`'): row for row in settings_tables()['conditions']}
    for name in ('bias', 'drift_std', 'quantum', 'dropout'):
        assert str(len(CHANNELS)) in rows[f'sensor.{name}'][3]


def _layout_rows():
    """Return ``{path cell: holds cell}`` of docs/layout.md's table."""
    rows = {}
    for line in (DOCS / 'layout.md').read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 2 and cells[0].startswith('`'):
            rows[cells[0]] = cells[1]
    return rows


def test_the_layout_page_names_every_folder_and_module_of_the_package():
    package = REPO / 'plant_server_ros'
    rows = _layout_rows()
    missing = []
    for folder in sorted({p.parent for p in package.rglob('*.py')}):
        key = f'`{folder.relative_to(REPO).as_posix()}/`'
        if key not in rows:
            missing.append(f'no row for {key}')
            continue
        named = set(re.findall(r'`([^`]+)`', rows[key]))
        for path in sorted(folder.glob('*.py')):
            if path.name == '__init__.py' and folder != package:
                continue          # a folder's __init__ re-exports what its row names
            if not any(path.name in name.split('/') for name in named):
                missing.append(f'{path.relative_to(REPO)}: not named in the row of {key}')
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name == 'static'):
            if f'{sub.name}/' not in named:
                missing.append(f'{sub.relative_to(REPO)}/: not named in the row of {key}')
    assert not missing, 'docs/layout.md is behind the package:\n' + '\n'.join(missing)
