"""Helpers of nixremote's own tests, importable as ``helpers`` (``pythonpath = ["tests"]``).

Fixtures built on them live in the ``conftest.py`` of the folder that uses them; the OpenSSH
server is the plugin kit's :class:`nixremote.testing.sshd.LoopbackSshd`.
"""
