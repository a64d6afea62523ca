"""Kit glue of coptwin (module ``coptwin.kit`` in extension.toml).

Kit imports this module and starts :class:`CoptwinExtension`.  It is the only
part of coptwin that imports ``omni`` or ``carb``; everything it shows comes
from the Kit-free view-models in :mod:`coptwin.ui`.
"""

from .extension import CoptwinExtension

__all__ = ["CoptwinExtension"]
