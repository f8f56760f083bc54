"""Installs the command table into the core: Cython handlers by name, Python
handlers for the rest (see commands/table.py)."""
from cachecyt import _core
from cachecyt.commands import server, table
from cachecyt.security import acl, commands as security_commands, tenants
from cachecyt.scripting import commands as scripting

_installed = False


def handlers():
    """Every Python command handler by name."""
    return {**server.HANDLERS, **security_commands.HANDLERS, **scripting.HANDLERS,
            **tenants.HANDLERS}


def install():
    global _installed
    if not _installed:
        _core.install_commands(table.COMMANDS, handlers())
        acl.install()
        tenants.install()
        _installed = True
