"""
Gymnasium environments of the plant (``pip install plant_server_ros[gym]``).

``plant_server_ros/DoubleInvertedPendulum-v0``: the raw plant, as it is
(forces in newtons, the measured state, nothing ends but a halt): one
lock-step plant (:class:`~.env.DoubleInvertedPendulumEnv`), and with
``gymnasium.make_vec(..., vectorization_mode='vector_entry_point')`` N of
them in a :class:`~..batch.PlantBatch` (:class:`~.vector_env.DIPVectorEnv`).
``plant_server_ros/DIPBalance-v0`` and ``plant_server_ros/DIPSwingUp-v0``:
the learning tasks of :mod:`.tasks` (RL conventions: actions in [-1, 1],
sin/cos observations, a fall ends the balance episode, starts drawn per
seed), one plant or N lanes (:mod:`.task_envs`).
Importing this module registers them (when gymnasium is installed), so
``gymnasium.make('plant_server_ros.gym:plant_server_ros/DIPBalance-v0')``
needs no import of its own.  setup.py also names :func:`register` in the
``gymnasium.envs`` entry-point group, for the tools and the gymnasium
versions (< 1.0) that load plugins from it; Gymnasium 1.4 itself does not.
"""

ENV_ID = 'plant_server_ros/DoubleInvertedPendulum-v0'
BALANCE_ID = 'plant_server_ros/DIPBalance-v0'
SWING_UP_ID = 'plant_server_ros/DIPSwingUp-v0'

_ENTRY_POINTS = {
    ENV_ID: ('plant_server_ros.gym.env:DoubleInvertedPendulumEnv',
             'plant_server_ros.gym.vector_env:DIPVectorEnv'),
    BALANCE_ID: ('plant_server_ros.gym.task_envs:balance',
                 'plant_server_ros.gym.task_envs:balance_vector'),
    SWING_UP_ID: ('plant_server_ros.gym.task_envs:swing_up',
                  'plant_server_ros.gym.task_envs:swing_up_vector'),
}


def register():
    """Register the environment ids with gymnasium (idempotent)."""
    import gymnasium
    for env_id, (entry_point, vector_entry_point) in _ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point,
                               vector_entry_point=vector_entry_point,
                               disable_env_checker=False)


try:
    import gymnasium as _gymnasium  # noqa: F401
except ImportError:      # the optional extra is not installed: nothing to register
    pass
else:
    register()
