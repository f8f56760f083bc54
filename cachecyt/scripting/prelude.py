"""The Lua side of scripting, run once in each worker's Lua state (lua.py):
the redis library, RESP <-> Lua conversion, the error handler, the sandbox.

It is Lua 5.1 kept as a Python string so that it ships inside the package. It
gets the Python callables it needs as chunk arguments and returns the functions
lua.py calls (run a script, compile one, load a function library). Scripts do
not run in the state's own globals (lupa needs those) but in `env`, which holds
only what a Redis 7.0 script sees; it and every library table in it are
read-only."""

PRELUDE = r'''
local redis_call, redis_pcall, pysetresp, pykill, pylog, pysha1, pyrandom, pybit,
      pyjson_decode, pymp_pack, pymp_unpack, pystruct, json_null, pycfunction, pyunwrap = ...

local type, tostring, tonumber, select, error, pairs, next, ipairs, unpack, xpcall, pcall,
      rawget, rawset, rawequal, setmetatable, getmetatable, loadstring, load, setfenv =
      type, tostring, tonumber, select, error, pairs, next, ipairs, unpack, xpcall, pcall,
      rawget, rawset, rawequal, setmetatable, getmetatable, loadstring, load, setfenv
local concat, sfind, ssub, sformat, sgsub, sbyte, floor, ceil, huge =
      table.concat, string.find, string.sub, string.format, string.gsub, string.byte,
      math.floor, math.ceil, math.huge
local dbg = debug
local G = _G
local HERE = '=cachecyt'            -- chunk name of this file: its frames are not the script's

-- the RESP version of redis.call replies in the script running now (redis.setresp),
-- and its name (sha or function) for error texts
local S = {resp = 2, name = ''}

-- ---- RESP reply -> Lua value (what redis.call returns) ---------------------------

local parse
parse = function(s, i)
  local t = ssub(s, i, i)
  local e = sfind(s, '\r\n', i, true)
  local line = ssub(s, i + 1, e - 1)
  local nxt = e + 2
  if t == '+' then return {ok = line}, nxt
  elseif t == '-' then return {err = line}, nxt
  elseif t == ':' then return tonumber(line), nxt
  elseif t == '$' or t == '=' or t == '!' then
    local n = tonumber(line)
    if n < 0 then return false, nxt end
    local str = ssub(s, nxt, nxt + n - 1)
    if t == '=' then
      return {verbatim_string = {format = ssub(str, 1, 3), string = ssub(str, 5)}}, nxt + n + 2
    elseif t == '!' then
      return {err = str}, nxt + n + 2
    end
    return str, nxt + n + 2
  elseif t == '*' or t == '~' or t == '>' then
    local n = tonumber(line)
    if n < 0 then return false, nxt end
    local arr = {}
    for k = 1, n do arr[k], nxt = parse(s, nxt) end
    if t == '~' then
      local set = {}
      for k = 1, n do set[arr[k]] = true end
      return {set = set}, nxt
    end
    return arr, nxt
  elseif t == '%' then
    local n = tonumber(line)
    local map, key, val = {}
    for _ = 1, n do
      key, nxt = parse(s, nxt)
      val, nxt = parse(s, nxt)
      map[key] = val
    end
    return {map = map}, nxt
  elseif t == '_' then return nil, nxt
  elseif t == ',' then
    local v = tonumber(line)
    if v == nil then
      if line == 'inf' then v = huge elseif line == '-inf' then v = -huge else v = 0 / 0 end
    end
    return {double = v}, nxt
  elseif t == '#' then return line == 't', nxt
  elseif t == '(' then return {big_number = line}, nxt
  end
  return {err = 'ERR reply not understood'}, #s + 1
end

-- ---- Lua value -> RESP reply (what the script returns) ---------------------------

local function int_text(n)
  if n ~= n or n >= 9223372036854775807 or n < -9223372036854775808 then
    return '-9223372036854775808'        -- C's conversion of a double out of range, as Redis
  end
  if n >= 0 then n = floor(n) else n = ceil(n) end
  if n == 0 then return '0' end
  return sformat('%.0f', n)
end

local function one_line(s)
  return (sgsub(s, '[\r\n]', ' '))
end

local function double_text(d)
  if d == huge then return 'inf' elseif d == -huge then return '-inf'
  elseif d ~= d then return 'nan' end
  return sformat('%.17g', d)
end

local encode
encode = function(v, out, r3)
  local t = type(v)
  if t == 'string' then
    out[#out + 1] = '$' .. #v .. '\r\n' .. v .. '\r\n'
  elseif t == 'number' then
    out[#out + 1] = ':' .. int_text(v) .. '\r\n'
  elseif t == 'boolean' then
    if S.resp == 2 then
      if v then out[#out + 1] = ':1\r\n' else out[#out + 1] = r3 and '_\r\n' or '$-1\r\n' end
    elseif r3 then out[#out + 1] = v and '#t\r\n' or '#f\r\n'
    else out[#out + 1] = v and ':1\r\n' or ':0\r\n' end
  elseif t == 'table' then
    local f = rawget(v, 'err')
    if type(f) == 'string' then
      out[#out + 1] = '-' .. one_line(f) .. '\r\n'
      return
    end
    f = rawget(v, 'ok')
    if type(f) == 'string' then
      out[#out + 1] = '+' .. one_line(f) .. '\r\n'
      return
    end
    f = rawget(v, 'double')
    if type(f) == 'number' then
      local d = double_text(f)
      if r3 then out[#out + 1] = ',' .. d .. '\r\n'
      else out[#out + 1] = '$' .. #d .. '\r\n' .. d .. '\r\n' end
      return
    end
    f = rawget(v, 'big_number')
    if type(f) == 'string' then
      if r3 then out[#out + 1] = '(' .. one_line(f) .. '\r\n'
      else out[#out + 1] = '$' .. #f .. '\r\n' .. f .. '\r\n' end
      return
    end
    f = rawget(v, 'map')
    if type(f) == 'table' then
      local at, n = #out + 1, 0
      out[at] = ''
      for k, x in next, f do
        encode(k, out, r3)
        encode(x, out, r3)
        n = n + 1
      end
      out[at] = r3 and ('%' .. n .. '\r\n') or ('*' .. (2 * n) .. '\r\n')
      return
    end
    f = rawget(v, 'set')
    if type(f) == 'table' then
      local at, n = #out + 1, 0
      out[at] = ''
      for k in next, f do
        encode(k, out, r3)
        n = n + 1
      end
      out[at] = (r3 and '~' or '*') .. n .. '\r\n'
      return
    end
    f = rawget(v, 'verbatim_string')
    if type(f) == 'table' and type(rawget(f, 'string')) == 'string' then
      local s, fmt = rawget(f, 'string'), rawget(f, 'format')
      if r3 and type(fmt) == 'string' and #fmt == 3 then
        out[#out + 1] = '=' .. (#s + 4) .. '\r\n' .. fmt .. ':' .. s .. '\r\n'
      else
        out[#out + 1] = '$' .. #s .. '\r\n' .. s .. '\r\n'
      end
      return
    end
    local at, n = #out + 1, 0
    out[at] = ''
    while true do
      local x = rawget(v, n + 1)
      if x == nil then break end
      encode(x, out, r3)
      n = n + 1
    end
    out[at] = '*' .. n .. '\r\n'
  else
    out[#out + 1] = r3 and '_\r\n' or '$-1\r\n'
  end
end

-- ---- errors -------------------------------------------------------------------------

-- The message handler of every script call: a string error becomes {err='ERR ...'};
-- the innermost frame of script code gives where it happened.
local function err_handler(e)
  local info, level = nil, 2
  while true do
    info = dbg.getinfo(level, 'Sl')
    if not info or (info.what ~= 'C' and info.source ~= HERE) then break end
    level = level + 1
  end
  if type(e) == 'userdata' then
    -- raised by a library function (a C function to Lua, see lua.CFunction): a
    -- string gets the position of the script line that called it, as luaL_error's
    e = pyunwrap(e)
    if type(e) == 'string' and info then
      e = sgsub(info.source, '^[@=]', '') .. ':' .. info.currentline .. ': ' .. e
    end
  end
  if type(e) ~= 'table' then
    e = {err = 'ERR ' .. tostring(e)}
  end
  if info then
    rawset(e, 'source', info.source)
    rawset(e, 'line', info.currentline)
  end
  return e
end

local function error_text(e)
  local msg = rawget(e, 'err')
  if msg == nil then msg = 'ERR unknown error' end
  msg = one_line(tostring(msg))
  local src, line = rawget(e, 'source'), rawget(e, 'line')
  if src and line then
    msg = msg .. ' script: ' .. S.name .. ', on ' .. tostring(src) .. ':' .. tostring(line) .. '.'
  end
  return '-' .. msg .. '\r\n'
end

-- ---- the redis library -------------------------------------------------------------

local function lib_error(msg)
  error({err = msg}, 0)
end

local redis = {}
-- a wrong argument makes them return an error reply, not raise one (as Redis)
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  if ssub(msg, 1, 1) == '-' then msg = ssub(msg, 2) end
  return {err = msg}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  return {ok = msg}
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then lib_error('ERR wrong number of arguments') end
  local s = ...
  if type(s) == 'number' then s = tostring(s) end
  if type(s) ~= 'string' then s = '' end
  return pysha1(s)
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then lib_error('ERR redis.log() requires two arguments or more.') end
  local level = ...
  if type(level) ~= 'number' then lib_error('ERR First argument must be a number (log level).') end
  if level < 0 or level > 3 then lib_error('ERR Invalid debug level.') end
  local parts = {}
  for k = 2, n do
    local v = select(k, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  pylog(level, concat(parts, ' '))
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then lib_error('ERR redis.setresp() requires one argument.') end
  local v = ...
  if v ~= 2 and v ~= 3 then lib_error('ERR RESP version must be 2 or 3.') end
  S.resp = v
  pysetresp(v)
end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then lib_error('ERR redis.set_repl() requires one argument.') end
  local v = ...
  if type(v) ~= 'number' or v < 0 or v > 3 then
    lib_error("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if select('#', ...) == 0 then lib_error('ERR Please specify at least one argument for this redis lib call') end
  return true
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = '7.0.15'
redis.REDIS_VERSION_NUM = 458767

-- ---- cjson, cmsgpack, bit, struct ----------------------------------------------------

local cjson = {null = json_null, _NAME = 'cjson', _VERSION = '2.1.0'}

local JSON_ESC = {['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b',
                  ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
local function json_string(s)
  return '"' .. sgsub(s, '[%c"\\/]', function(c)
    return JSON_ESC[c] or sformat('\\u%04x', sbyte(c))
  end) .. '"'
end

local json_encode
json_encode = function(v, depth)
  local t = type(v)
  if t == 'string' then return json_string(v)
  elseif t == 'number' then
    if v ~= v or v == huge or v == -huge then
      error('Cannot serialise number: must not be NaN or Inf', 0)
    end
    return sformat('%.14g', v)
  elseif t == 'boolean' then return v and 'true' or 'false'
  elseif v == nil or v == json_null then return 'null'
  elseif t ~= 'table' then
    error('Cannot serialise ' .. t .. ': type not supported', 0)
  end
  if depth > 1000 then error('Cannot serialise, excessive nesting (1001)', 0) end
  local max, count, array = 0, 0, true
  for k in next, v do
    if type(k) == 'number' and k > 0 and floor(k) == k then
      if k > max then max = k end
      count = count + 1
    else
      array = false
      break
    end
  end
  if array and max > 0 then
    if max > 10 and max > count * 2 then
      error('Cannot serialise table: excessively sparse array', 0)
    end
    local parts = {}
    for k = 1, max do parts[k] = json_encode(rawget(v, k), depth + 1) end
    return '[' .. concat(parts, ',') .. ']'
  end
  local parts = {}
  for k, x in next, v do
    local tk = type(k)
    if tk == 'number' then k = sformat('%.14g', k)
    elseif tk ~= 'string' then error('Cannot serialise ' .. tk .. ': table key must be a number or string', 0) end
    parts[#parts + 1] = json_string(k) .. ':' .. json_encode(x, depth + 1)
  end
  return '{' .. concat(parts, ',') .. '}'
end

cjson.encode = function(...)
  if select('#', ...) ~= 1 then error('bad argument #1 to \'encode\' (expected 1 argument)', 0) end
  local ok, res = pcall(json_encode, (...), 1)
  if not ok then error(res, 0) end
  return res
end
cjson.decode = function(...)
  if select('#', ...) ~= 1 then error("bad argument #1 to 'decode' (expected 1 argument)", 0) end
  local s = ...
  if type(s) == 'number' then
    s = tostring(s)
  elseif type(s) ~= 'string' then
    error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 0)
  end
  local ok, res = pyjson_decode(s)
  if not ok then error(res, 0) end
  return res
end
local function cjson_setting(v) return function(...) return v end end
cjson.encode_sparse_array = cjson_setting(false)
cjson.encode_max_depth = cjson_setting(1000)
cjson.decode_max_depth = cjson_setting(1000)
cjson.encode_number_precision = cjson_setting(14)
cjson.encode_keep_buffer = cjson_setting(true)
cjson.encode_invalid_numbers = cjson_setting(false)
cjson.decode_invalid_numbers = cjson_setting(true)
cjson.new = function() return cjson end

local cmsgpack = {_NAME = 'lua-cmsgpack', _VERSION = 'lua-cmsgpack 0.4.0',
                  _COPYRIGHT = '', _DESCRIPTION = 'MessagePack C implementation for Lua'}
cmsgpack.pack = function(...)
  if select('#', ...) == 0 then error('MessagePack pack needs input.', 0) end
  return pymp_pack(...)
end
local function mp_unpack(s, limit, offset)
  if type(s) ~= 'string' then error('MessagePack unpack needs a string', 0) end
  local res = pymp_unpack(s, limit or 0, offset or 0)
  if type(res) == 'string' then error(res, 0) end
  return unpack(res, 1, res.n)
end
cmsgpack.unpack = function(s) return mp_unpack(s, 0, 0) end
cmsgpack.unpack_one = function(s, offset) return mp_unpack(s, 1, offset) end
cmsgpack.unpack_limit = function(s, limit, offset) return mp_unpack(s, limit, offset) end

local bit = {}
for _, name in ipairs({'tobit', 'tohex', 'bnot', 'band', 'bor', 'bxor', 'lshift', 'rshift',
                       'arshift', 'rol', 'ror', 'bswap'}) do
  bit[name] = function(...)
    local ok, res = pybit(name, ...)
    if not ok then error(res, 0) end
    return res
  end
end

local struct = {}
for _, name in ipairs({'pack', 'unpack', 'size'}) do
  struct[name] = function(...)
    local res = pystruct(name, ...)
    if type(res) == 'string' then error(res, 0) end
    return unpack(res, 1, res.n)
  end
end

-- ---- math.random as Redis: its own 48-bit generator (lua.py) ------------------------------

local math_random = function(...)
  local r = pyrandom()
  local n = select('#', ...)
  if n == 0 then return r end
  local lo, hi = 1, ...
  if n >= 2 then lo, hi = ... end
  if type(lo) ~= 'number' or type(hi) ~= 'number' then error("bad argument to 'random' (number expected)", 2) end
  if lo > hi then error("bad argument #" .. n .. " to 'random' (interval is empty)", 2) end
  return floor(r * (hi - lo + 1)) + lo
end
local math_randomseed = function(seed) pyrandom(tonumber(seed) or 0) end

-- ---- the sandbox ---------------------------------------------------------------------

-- Library functions are called through C functions (lua.CFunction), as Redis's
-- are C: a script's `return redis.call(...)` is then no tail call, and an error
-- keeps the script line that raised it.
local function as_c(lib)
  for k, v in next, lib do
    if type(v) == 'function' then lib[k] = pycfunction(v) end
  end
end
as_c(redis)
-- redis.call and redis.pcall are C functions (scripting/luacall.pxi): they run
-- the command and turn its reply into Lua values themselves
redis.call = redis_call
redis.pcall = redis_pcall
as_c(cjson)
as_c(cmsgpack)
as_c(bit)
as_c(struct)

local readonly = setmetatable({}, {__mode = 'k'})    -- proxy -> real table
local function readonly_error() error('Attempt to modify a readonly table', 2) end

local function protect(real)
  local proxy = {}
  readonly[proxy] = real
  setmetatable(proxy, {__index = real, __newindex = readonly_error, __metatable = false})
  return proxy
end

local function real_of(t) return readonly[t] or t end

local safe_next = function(t, k) return next(real_of(t), k) end
local safe_pairs = function(t)
  if type(t) ~= 'table' then return pairs(t) end
  return next, real_of(t), nil
end
local safe_rawget = function(t, k) return rawget(real_of(t), k) end
local env = {}                      -- the globals of every script (the state's own stay intact)
local safe_rawset = function(t, k, v)
  if readonly[t] or t == env then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
local safe_setmetatable = function(t, m)
  if readonly[t] or t == env then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, m)
end
local function no_bytecode(s) return type(s) == 'string' and ssub(s, 1, 1) == '\27' end
local safe_loadstring = function(s, name)
  if no_bytecode(s) then return nil, 'bytecode is not allowed' end
  local f, err = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, err
end
local safe_load = function(f, name)
  if type(f) == 'string' then return safe_loadstring(f, name) end
  local g, err = load(f, name)
  if g then setfenv(g, env) end
  return g, err
end

local mathlib = {}
for k, v in pairs(math) do mathlib[k] = v end
mathlib.random, mathlib.randomseed = math_random, math_randomseed

-- library functions are Python callables (userdata to Lua); scripts see functions
local safe_type = function(v)
  local t = type(v)
  if t == 'userdata' and v ~= json_null then return 'function' end
  return t
end

local keep = {'assert', 'collectgarbage', 'error', 'gcinfo', 'getmetatable', 'ipairs', 'pcall',
              'rawequal', 'select', 'tonumber', 'tostring', 'unpack', 'xpcall', '_VERSION'}
for _, k in ipairs(keep) do env[k] = G[k] end
env.next, env.pairs, env.rawget, env.rawset = safe_next, safe_pairs, safe_rawget, safe_rawset
env.type = safe_type
env.setmetatable, env.loadstring, env.load = safe_setmetatable, safe_loadstring, safe_load
env.string, env.table, env.coroutine = protect(string), protect(table), protect(coroutine)
env.math = protect(mathlib)
env.redis, env.cjson, env.cmsgpack = protect(redis), protect(cjson), protect(cmsgpack)
env.bit, env.struct = protect(bit), protect(struct)
env.__redis__err__handler = err_handler
env._G = env
local function missing_global(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
setmetatable(env, {__index = missing_global, __newindex = readonly_error, __metatable = false})

-- ---- what lua.py calls --------------------------------------------------------------

local kill_hook = function()
  local why = pykill()
  if why then error(why, 0) end
end

local M = {}

-- Compile a script body: the function, or nil and Redis's error text.
function M.compile(body, chunkname)
  if no_bytecode(body) then return nil, 'bytecode is not allowed' end
  local f, err = loadstring(body, chunkname or '@user_script')
  if not f then return nil, err end
  setfenv(f, env)
  return f
end

local function reply_of(ok, res, r3)
  if not ok then
    if type(res) ~= 'table' then res = {err = 'ERR ' .. tostring(res)} end
    return error_text(res)
  end
  local out = {}
  encode(res, out, r3)
  return concat(out)
end

-- Run a compiled script; returns the RESP reply (errors included). The kill
-- hook stays installed: it costs nothing while no Lua runs.
local function run(f, r3, name, nkeys, ...)
  local keys, argv = {...}, {}
  local n = #keys
  for k = nkeys + 1, n do
    argv[k - nkeys] = keys[k]
    keys[k] = nil
  end
  rawset(env, 'KEYS', keys)
  rawset(env, 'ARGV', argv)
  S.resp = 2
  S.name = name
  local ok, res = xpcall(f, err_handler)
  return reply_of(ok, res, r3)
end
-- The end of a script the fast path (scripting/luacall.pxi) ran: the reply of a
-- table result or of an error.
function M.finish(ok, res, r3, name)
  S.name = name
  return reply_of(ok, res, r3)
end
M.env, M.err_handler, M.S = env, err_handler, S
function M.run(f, name, nkeys, ...) return run(f, false, name, nkeys, ...) end
function M.run3(f, name, nkeys, ...) return run(f, true, name, nkeys, ...) end

-- Call a function of a library with KEYS and ARGV as its two arguments.
function M.call_function(f, r3, name, nkeys, ...)
  local keys, argv = {...}, {}
  local n = #keys
  for k = nkeys + 1, n do
    argv[k - nkeys] = keys[k]
    keys[k] = nil
  end
  S.resp = 2
  S.name = name
  local ok, res = xpcall(function() return f(keys, argv) end, err_handler)
  return reply_of(ok, res, r3)
end

dbg.sethook(kill_hook, '', 100000)

-- Run a library's code with redis.register_function active; returns the
-- functions it registered ({name = {callback=, flags=, description=}}) or nil, error.
function M.load_library(code, pyregister)
  local f, err = loadstring(code, '@user_function')
  if not f then return nil, 'Error compiling function: ' .. err end
  -- a library sees the script globals through its own table: it may not change them either
  local libenv = setmetatable({}, {
    __index = function(_, k)
      local v = rawget(env, k)
      if v == nil then missing_global(_, k) end
      return v
    end,
    __newindex = readonly_error,
    __metatable = false,
  })
  local lredis = {}
  for k, v in next, redis do lredis[k] = v end
  lredis.register_function = function(...)
    local e = pyregister(...)
    if e then error({err = e}, 0) end
  end
  rawset(libenv, 'redis', protect(lredis))
  rawset(libenv, '_G', libenv)
  setfenv(f, libenv)
  local ok, res = xpcall(f, err_handler)
  if not ok then
    if type(res) ~= 'table' then res = {err = tostring(res)} end
    return nil, tostring(rawget(res, 'err'))
  end
  return true
end

M.parse = function(s) return (parse(s, 1)) end
return M
'''
