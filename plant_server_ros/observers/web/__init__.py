"""
The plant in a browser: :class:`~.live_view.LiveView` serves one page and its data.

Importing this package costs nothing; :mod:`.live_view` needs the
``websockets`` package (``requirements/web.txt``).
"""

__all__ = ['LiveView', 'PlantServerActions', 'Pulse']


def __getattr__(name):
    # Lazy: a door that serves no live view never imports websockets.
    if name in __all__:
        from . import live_view
        return getattr(live_view, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
