"""
The one YAML reader of the package: bounded in size, depth, alias expansion and encoding.

Every file the package reads (config, scenario, campaign) comes through
:func:`load`, so a hostile or broken file is refused in one line naming it,
before anything is built from it:

- at most :data:`MAX_BYTES` bytes, read as UTF-8 (a byte-order mark allowed);
- at most :data:`MAX_DEPTH` levels of nesting;
- at most :data:`MAX_NODES` nodes once every alias is expanded: aliases
  cost what they stand for, so a "billion laughs" file is refused while it is
  composed (in time linear in its length), not after it ate the memory;
- numbers in every YAML spelling: PyYAML follows YAML 1.1, where ``1e5`` and
  ``1e-300`` (no dot) and ``0o17`` are strings; here they are numbers, as
  YAML 1.2 and every user reads them.
"""

import re

import yaml

MAX_BYTES = 1 << 20          # 1 MiB: the largest shipped file is ~2 kB
MAX_DEPTH = 64
MAX_NODES = 100_000

# YAML 1.2 core-schema numbers that PyYAML's YAML 1.1 resolver leaves as strings.
_FLOAT_12 = re.compile(r'^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$')
_OCTAL_12 = re.compile(r'^0o[0-7]+$')


class YamlFileError(ValueError):
    """A YAML file that cannot be read within the bounds (the message names the file)."""


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts expanded nodes and depth while it composes."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._size = {}      # id(node) -> (expanded node count, expanded depth)

    def compose_node(self, parent, index):
        alias = self.check_event(yaml.AliasEvent)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(f'nested deeper than {MAX_DEPTH} levels', self.peek_event())
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            count, depth = self._size[id(node)]
        else:
            children = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            count, depth = 1, 1
            for child in children:
                c, d = self._size[id(child)]
                count += c
                depth = max(depth, d + 1)
            self._size[id(node)] = (count, depth)
        # An alias stands for its whole node: what it expands to counts here.
        if count > MAX_NODES:
            raise _Limit(f'expands to more than {MAX_NODES} nodes (aliases counted expanded)',
                         node)
        if self._depth + depth > MAX_DEPTH + 1:
            raise _Limit(f'nested deeper than {MAX_DEPTH} levels (aliases counted expanded)',
                         node)
        return node


class _Limit(Exception):
    def __init__(self, what, where):
        mark = getattr(where, 'start_mark', None)
        at = f' (line {mark.line + 1})' if mark is not None else ''
        super().__init__(f'{what}{at}')


def _construct_octal(loader, node):
    return int(loader.construct_scalar(node)[2:], 8)


# The float constructor of SafeLoader reads these already; only resolution was missing.
_BoundedLoader.add_implicit_resolver('tag:yaml.org,2002:float', _FLOAT_12, list('-+0123456789'))
_BoundedLoader.add_implicit_resolver('tag:plant_server_ros,2026:octal', _OCTAL_12, ['0'])
_BoundedLoader.add_constructor('tag:plant_server_ros,2026:octal', _construct_octal)


def parse(text, name='<string>'):
    """Return the document of YAML ``text`` (None for an empty one), or raise YamlFileError."""
    if len(text) > MAX_BYTES:
        raise YamlFileError(f'{name} is larger than {MAX_BYTES} bytes')
    loader = None
    try:
        loader = _BoundedLoader(text)       # refuses non-printable characters already
        return loader.get_single_data()
    except _Limit as exc:
        raise YamlFileError(f'{name} {exc}') from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f'{name} is not valid YAML: {_one_line(exc)}') from None
    except RecursionError:       # a guard: the depth bound keeps composition shallow
        raise YamlFileError(f'{name} is nested too deeply') from None
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        # An explicit tag on a value it cannot read ("!!float ;"): PyYAML's
        # constructors raise plain Python errors for those.
        raise YamlFileError(f'{name} is not valid YAML: a tagged value cannot be read '
                            f'({type(exc).__name__}: {_one_line(exc)})') from None
    finally:
        if loader is not None:
            loader.dispose()


def load(path):
    """Return the document of the YAML file at ``path``, or raise YamlFileError (or OSError)."""
    with open(path, 'rb') as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlFileError(f'{path} is larger than {MAX_BYTES} bytes')
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise YamlFileError(f'{path} is not UTF-8 text (byte {exc.start})') from None
    return parse(text, str(path))


def _one_line(exc):
    text = ' '.join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + '...'
