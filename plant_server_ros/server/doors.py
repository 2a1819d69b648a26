"""The options of ``PlantServer``'s doors on a lab network, checked before anything listens."""

from .config import ConfigError
from ..inputs import allowlist


def door_options(allow, web_token, web_view_only):
    """Return the keyword arguments of :class:`~..doors.assembly.Doors` that guard its doors."""
    try:
        networks = allowlist.parse(allow)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if web_token is not None and not isinstance(web_token, str):
        raise ConfigError(f'web_token: must be a string, got {web_token!r}')
    networks = None if networks is None else [str(n) for n in networks]
    return {'allow': networks, 'token': web_token, 'view_only': bool(web_view_only)}
