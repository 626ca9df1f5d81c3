"""Steering PTZ domes (docs/ptz.md): sessions and priorities, reservations, presets, patrols and the
return home, over the driver protocol of ``ronda.devices.ptz``.

- ``arbiter``    who may steer a dome now (pure: priorities, sessions, reservations)
- ``controller`` one dome: commands, the joystick's dead-man stop, session ends, patrols, idle return
- ``service``    every dome of the site: rights, audit, the database, the rule action
- ``drivers``    which driver a camera gets (a factory the runtime installs)
- ``repository`` the SQL (``store/ptz_models.py``)
- ``simulated``  an in-process dome that keeps its position (tests and ``ptz.simulated_domes``)
"""
