"""Test doubles for services that cannot exist in the test environment.

Each fake here stands in for a remote service the tests must never reach (the Hetzner Cloud API,
the Hetzner metadata service at 169.254.169.254). They listen on loopback only, are driven by the
real client code, and check what they send against the published contract where one exists.
"""
