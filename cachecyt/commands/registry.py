"""Installs the command table into the core: Cython handlers by name, Python
handlers for the rest (see commands/table.py)."""
from cachecyt import _core
from cachecyt.commands import server, table
from cachecyt.scripting import commands as scripting

_installed = False


def install():
    global _installed
    if not _installed:
        _core.install_commands(table.COMMANDS, {**server.HANDLERS, **scripting.HANDLERS})
        _installed = True
