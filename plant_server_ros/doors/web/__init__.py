"""
The plant in a browser: :class:`~.live_view.LiveView` serves one page and its data.

Importing this package costs nothing; :mod:`.live_view` needs the
``websockets`` package (``requirements/web.txt``), :mod:`.actions` (what
the page's buttons do at the door) does not.
"""

__all__ = ['HostActions', 'LiveView', 'PlantServerActions', 'Pulse']


def __getattr__(name):
    # Lazy: a door that serves no live view never imports websockets.
    if name == 'LiveView':
        from . import live_view
        return live_view.LiveView
    if name in __all__:
        from . import actions
        return getattr(actions, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
