"""coptwin: a live Common Operating Picture for CityEngine USD cities.

The package is Kit-free: everything below :mod:`coptwin.kit` runs with usd-core
outside Omniverse and with Kit's own ``pxr`` inside it.
"""

__version__ = "0.1.0"
