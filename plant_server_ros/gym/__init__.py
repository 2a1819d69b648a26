"""
Gymnasium environments of the plant (``pip install plant_server_ros[gym]``).

``plant_server_ros/DoubleInvertedPendulum-v0``: one lock-step plant
(:class:`~.env.DoubleInvertedPendulumEnv`), and with
``gymnasium.make_vec(..., vectorization_mode='vector_entry_point')`` N of
them in a :class:`~..batch.PlantBatch` (:class:`~.vector_env.DIPVectorEnv`).
Importing this module registers them (when gymnasium is installed), so
``gymnasium.make('plant_server_ros.gym:plant_server_ros/DoubleInvertedPendulum-v0')``
needs no import of its own.  setup.py also names :func:`register` in the
``gymnasium.envs`` entry-point group, for the tools and the gymnasium
versions (< 1.0) that load plugins from it; Gymnasium 1.4 itself does not.
"""

ENV_ID = 'plant_server_ros/DoubleInvertedPendulum-v0'


def register():
    """Register the environment ids with gymnasium (idempotent)."""
    import gymnasium
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point='plant_server_ros.gym.env:DoubleInvertedPendulumEnv',
        vector_entry_point='plant_server_ros.gym.vector_env:DIPVectorEnv',
        disable_env_checker=False,
    )


try:
    import gymnasium as _gymnasium  # noqa: F401
except ImportError:      # the optional extra is not installed: nothing to register
    pass
else:
    register()
