"""The Lua scripts of the state store, read by name from the ``lua`` folder beside this module.

Each script is one file headed with its KEYS and ARGV. A script that runs others (``hop`` ends
one invocation and accepts the next) names them, and they are prepended as Lua functions whose
parameters ``KEYS`` and ``ARGV`` shadow the globals, so each transition is written once.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

# Scripts that run others, and the ones they run.
_USES: dict[str, tuple[str, ...]] = {"hop": ("finish", "accept")}


@cache
def source(name: str) -> str:
    """The text of script ``name``, with the scripts it runs as local functions before it."""
    own = resources.files("executor.state").joinpath("lua", f"{name}.lua").read_text("utf-8")
    used = "".join(
        f"local function {other}(KEYS, ARGV)\n{source(other)}\nend\n"
        for other in _USES.get(name, ())
    )
    return used + own


class Lua(Script):
    """A script sent by its SHA and loaded when the server does not know it.

    A replica promoted in a failover has none loaded (scripts replicate by their effects), and
    a cluster client may load a script on the nodes it knew before it learns of the promotion;
    the load is then tried again for a moment, while the client's view of the nodes settles.
    """

    def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        for pause in _RELOAD_PAUSES:
            try:
                return super().__call__(keys, args, client)
            except NoScriptError:
                time.sleep(pause)
        return super().__call__(keys, args, client)


_RELOAD_PAUSES = (0.1, 0.25, 0.5, 1.0)


def register(client: redis.Redis, name: str) -> Script:
    """Script ``name`` on ``client``: sent by its SHA, loaded on first use."""
    return Lua(client, source(name))
