"""SSH public keys for the tests: real key lines (they parse), of keys nobody holds."""

from __future__ import annotations

KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlKf8qQ+6NAKyVZE+zOwVTUBFIeVhbbfHrY8S6qgBei",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKFoVKUZT6pnHuyDZKKcVSViUT47jc50R5Wavpo8v4/0",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILTm7p7cDxOKlhdJj+msGyxykG35g6IPEDfyqNOC3wjP",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILWp5+QeoIFpyK1qphXtO80EvWTzYuzn3cMWjDEYxfkK",
)
"""Public halves of ed25519 keys generated for the tests (no private half exists anywhere)."""
