"""Event sources that only say "table T may have changed"; the Delta log version is the truth.

``EventHub`` runs polling, the webhook receiver and the MQTT subscriber and hands
every :class:`Hint` to the engine, whose wake-up flag is the one throttle (hints
that arrive while a tick runs make exactly one more tick).  ``table_prefixes(config)`` builds the
key-prefix map the hub routes object keys with.
"""

from __future__ import annotations

from coptwin.events.hint import Hint
from coptwin.events.hub import EventHub
from coptwin.events.routing import table_prefixes

__all__ = ["EventHub", "Hint", "table_prefixes"]
