"""nixremote plugin for the fictional ExampleCloud hoster; the hooks are in :mod:`.plugin`."""

__version__ = "0.1.0"
