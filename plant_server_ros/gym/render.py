"""
An RGB picture of the cart and its links, drawn with numpy (no display, no new dependency).

Positions and sizes come from :mod:`plant_server_ros.physics.geometry`
(forward kinematics, part dimensions, colours), as the ROS markers do.
"""

import numpy as np

from ..physics import geometry

WIDTH, HEIGHT = 600, 300


def _rgb(name):
    return np.array(geometry.COLORS[name][:3]) * 255.0


def draw(state, params, track_limit, width=WIDTH, height=HEIGHT):
    """Return an ``(height, width, 3)`` uint8 picture of ``state``."""
    dims = geometry.dimensions(params, track_limit)
    points = geometry.forward_kinematics(state, params)
    reach = params.link1_length + params.link2_length
    scale = width / (2.0 * track_limit + 2.0 * dims['cart'][0])
    scale = min(scale, 0.45 * height / reach)
    ys, xs = np.mgrid[0:height, 0:width]
    # World (x, z) of every pixel: pivot height at 40 % from the bottom.
    wx = (xs - width / 2.0) / scale
    wz = (height * 0.6 - ys) / scale
    image = np.full((height, width, 3), 255.0)

    def fill(mask, color):
        image[mask] = color

    rail_l, _, rail_h = dims['rail']
    fill((np.abs(wx) <= rail_l / 2) & (np.abs(wz - dims['rail_z']) <= rail_h / 2),
         _rgb('rail'))
    cart_l, _, cart_h = dims['cart']
    x = float(state[0])
    fill((np.abs(wx - x) <= cart_l / 2) & (wz <= 0.0) & (wz >= -cart_h), _rgb('cart'))
    radius = max(dims['link_radius'], 1.5 / scale)
    for name, a, b in (('link1', 'pivot', 'joint2'), ('link2', 'joint2', 'tip')):
        (ax, az), (bx, bz) = points[a], points[b]
        dx, dz = bx - ax, bz - az
        t = np.clip(((wx - ax) * dx + (wz - az) * dz) / max(dx * dx + dz * dz, 1e-12), 0, 1)
        fill((wx - ax - t * dx) ** 2 + (wz - az - t * dz) ** 2 <= radius ** 2, _rgb(name))
    tx, tz = points['tip']
    fill((wx - tx) ** 2 + (wz - tz) ** 2 <= max(dims['tip_radius'], 2.0 / scale) ** 2,
         _rgb('tip'))
    return image.astype(np.uint8)
