"""Lua scripting: EVAL & co., SCRIPT, FUNCTION and FCALL (docs/adr/0007-scripting.md).

store.py    the script cache and function libraries shared by the workers (no Lua)
prelude.py  the Lua half: redis library, RESP <-> Lua, sandbox
lua.py      one Lua 5.1 state per worker (lupa.lua51) and its Python callbacks
commands.py the command handlers
"""
