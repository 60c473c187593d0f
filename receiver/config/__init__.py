"""Configuration: every setting read from the environment once, in one place (warehouse's config style).

`settings.py` holds the core settings, `values.py` the value types (durations with units, rate
limits, zones ...), `reading.py` how a declared setting is read and shown. Each vendor's section is
declared in its own folder (receiver/vendors/<vendor>/settings.py) and read with the rest.
"""

from receiver.config.reading import setting
from receiver.config.settings import RoleSettings, Settings, WebSettings
from receiver.config.values import ConfigError, RateLimit

__all__ = ["ConfigError", "RateLimit", "RoleSettings", "Settings", "WebSettings", "setting"]
