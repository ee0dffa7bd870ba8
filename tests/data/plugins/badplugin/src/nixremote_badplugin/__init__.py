"""Implements a misspelt hook: nixremote must refuse to load it."""

from nixremote import hookimpl


@hookimpl
def colect_runtime_info(facts):  # misspelt on purpose
    return None
