"""
The doors of a plant, assembled once: the legacy TCP and UDP doors and the live view.

:mod:`.assembly` opens them for any plant (``PlantServer``'s host in this
process, the bridge node's plant on topics); :mod:`.web` is the live view.
"""
