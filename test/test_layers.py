"""
The package's import graph: no cycles, and no module imports a layer above its own.

Every ``import`` of every module under ``plant_server_ros/`` counts, the ones
inside functions (imported on first use) too: a lazy import is still an
arrow.  A module's layer is its folder's; a module may import its own layer
and those below (docs/layout.md).
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'plant_server_ros'

# Bottom to top.
LAYERS = (
    ('inputs', 'physics'),
    ('conditions',),
    ('runtime', 'batch'),
    ('legacy', 'observers', 'gym', 'analysis'),
    ('doors',),
    ('server', 'clients'),
    ('ros',),
    ('testing',),
)
# Arrows up that are known and owned elsewhere; each must still be there (when it
# goes, its line goes too).
KNOWN_UPWARD = set()


def modules():
    """Return ``{dotted module name: path}`` of every module of the package."""
    found = {}
    for path in sorted((REPO / PACKAGE).rglob('*.py')):
        parts = list(path.relative_to(REPO).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        found['.'.join(parts)] = path
    return found


def imports(name, path, known):
    """Return the modules of the package that module ``name`` loads (anywhere in it)."""
    package = name.split('.') if path.name == '__init__.py' else name.split('.')[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                base = '.'.join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ''
            submodules = {f'{base}.{a.name}' for a in node.names} & known
            # ``from .pkg import module``: the module; ``from .module import name``: the module.
            found.update(submodules or ({base} & known))
    found.discard(name)
    return found


def graph():
    """Return ``{module: set of the package's modules it imports}``."""
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def layer(name):
    """Return the index of ``name``'s layer in LAYERS, or None (the package's own top)."""
    parts = name.split('.')
    for index, folders in enumerate(LAYERS):
        if len(parts) > 1 and parts[1] in folders:
            return index
    return None


def cycles(edges):
    """Return the strongly connected groups of more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


def upward(edges):
    """Return the ``(importer, imported)`` pairs where the imported module's layer is higher."""
    return {(a, b) for a, deps in edges.items() for b in deps
            if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)}


def test_every_folder_has_a_layer():
    folders = {p.name for p in (REPO / PACKAGE).iterdir()
               if p.is_dir() and (p / '__init__.py').exists()}
    placed = {f for folders_ in LAYERS for f in folders_}
    assert folders <= placed, f'folders with no layer in LAYERS: {sorted(folders - placed)}'


def test_the_graph_sees_imports():
    edges = graph()
    # A top-level import, a relative one inside a function, and a sibling one.
    assert 'plant_server_ros.runtime.host' in edges['plant_server_ros.server.plant_server']
    assert 'plant_server_ros.ros.managed_plant_node' in edges['plant_server_ros.ros.plant_node']
    assert 'plant_server_ros.runtime.plant' in edges['plant_server_ros.runtime.host']


def test_no_import_cycles():
    found = cycles(graph())
    assert found == [], 'import cycles:\n' + '\n'.join(' <-> '.join(g) for g in found)


def test_no_import_from_a_lower_layer_up():
    found = upward(graph())
    assert found - KNOWN_UPWARD == set(), 'imports up a layer:\n' + '\n'.join(
        f'{a} -> {b}' for a, b in sorted(found - KNOWN_UPWARD))
    assert KNOWN_UPWARD <= found, f'gone, remove from KNOWN_UPWARD: {KNOWN_UPWARD - found}'


def test_runtime_imports_no_door():
    edges = graph()
    doors = ('observers', 'legacy', 'doors', 'server', 'ros', 'testing')
    bad = sorted((a, b) for a, deps in edges.items() if a.split('.')[1:2] == ['runtime']
                 for b in deps if b.split('.')[1] in doors)
    assert bad == []
