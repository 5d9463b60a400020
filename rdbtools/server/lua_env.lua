-- The environment scripts see, as Redis 7 builds it (names, error tables, the error handler's frame):
-- written here for rdbtool serve. Called once with the Python side's functions; returns the helpers
-- the Python side drives. Frames of this chunk ("=rdbtool") are skipped when an error is placed.
local py = ...
local rawpcall, error, type, select, unpack, tostring, setmetatable = pcall, error, type, select, unpack, tostring,
    setmetatable
local getinfo = debug.getinfo

local function readonly_error()
    error("Attempt to modify a readonly table", 2)
end

-- a library table as scripts see it: reads go through, writes fail (Redis locks every table reachable
-- from the globals)
-- (what getmetatable shows of each: none, or for _G a locked copy of Redis's metatable; see below)
local NONE = {}
local shown = setmetatable({}, {__mode = "k"})
local function readonly(t)
    local proxy = setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
    shown[proxy] = NONE
    return proxy
end

local globals = {}
for _, name in ipairs({"xpcall", "tostring", "setmetatable", "next", "assert", "tonumber", "rawequal",
                       "collectgarbage", "getmetatable", "rawset", "type", "select", "unpack", "gcinfo",
                       "pairs", "rawget", "loadstring", "ipairs", "_VERSION", "load", "error"}) do
    globals[name] = _G[name]
end
for _, name in ipairs({"string", "table", "math", "coroutine"}) do
    local copy = {}
    for k, v in pairs(_G[name]) do copy[k] = v end
    globals[name] = copy
end
globals.math.random = py.random
globals.math.randomseed = py.randomseed

-- what the Python side raised (a LuaRaise) as Redis's C code would have raised it: an error table, or a
-- string with the caller's position
local unwrap, redis62 = py.unwrap, py.redis62
local function converted(err)
    if type(err) == "userdata" then
        local kind, text = unwrap(err)
        if kind == "table" and not redis62 then
            return {err = text, ignore_error_stats_update = true}
        elseif kind == "string" then
            return text
        end
    end
    return err
end

-- Redis's pcall: an error table with an err field is caught as its err text
local function packed(...)
    return select("#", ...), {...}
end
globals.pcall = function(f, ...)
    local count, results = packed(rawpcall(f, ...))
    if not results[1] then results[2] = converted(results[2]) end
    if not results[1] and type(results[2]) == "table" then
        local err = results[2].err
        if type(err) == "string" or type(err) == "number" then
            results[2] = err
        end
    end
    return unpack(results, 1, count)
end

-- xpcall: its handler gets the error as Redis raises it (not what the Python side raised)
local rawxpcall = xpcall
globals.xpcall = function(f, handle)
    return rawxpcall(f, function(err) return handle(converted(err)) end)
end

local redis = {}
-- redis.call and redis.pcall: C functions of the accelerator when it is built (_luacall.c, fetched as
-- Lua fetches C functions), else the Python ones; bind_run later hands the accelerator what a run needs
local bind_run
if py.accelerator then
    local bind = assert(package.loadlib(py.accelerator, "rdbtool_lua_bind"))
    redis.call, redis.pcall, bind_run = bind(py.converted)
else
    redis.call, redis.pcall = py.call, py.pcall
end
redis.sha1hex = py.sha1hex
redis.log, redis.setresp, redis.set_repl, redis.acl_check_cmd = py.log, py.setresp, py.set_repl, py.acl_check_cmd
redis.error_reply = function(...)
    return {err = py.error_reply(select("#", ...), ...)}
end
redis.status_reply = function(...)
    if select("#", ...) ~= 1 or type((...)) ~= "string" then
        return {err = "ERR wrong number or type of arguments"}
    end
    return {ok = ...}
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = py.version, py.version_num

-- the first frame that is the user's, from the error handler's caller up
local function user_frame()
    local level, info = 3, nil
    repeat
        info = getinfo(level, "nSl")
        level = level + 1
    until not info or (info.what ~= "C" and info.source ~= "=rdbtool")
    return info
end

-- the error handler: where the error happened, and the error as a table with Redis's text
local function handler(err)
    err = converted(err)
    local info = user_frame()
    if type(err) ~= "table" then
        err = {err = "ERR " .. tostring(err)}
    end
    if info then
        err.source = info.source
        err.line = info.currentline
    end
    return err
end
local killed = {err = "ERR Script killed by user with SCRIPT KILL..."}

-- Redis 6.2 (scripting.c): errors are strings (its pcall is Lua's own: an error table is caught as the
-- table), its error handler puts their place before them, its helpers place theirs as luaPushError
-- does, and its redis table lacks what 7.0 added (its globals have a few more builtins)
if redis62 then
    globals.pcall = function(f, ...)
        local count, results = packed(rawpcall(f, ...))
        if not results[1] then results[2] = converted(results[2]) end
        return unpack(results, 1, count)
    end
    -- __redis__err__handler: a value that is no string nor number fails in its concatenation
    handler = function(err)
        err = converted(err)
        local info = user_frame()
        if not info then return err end
        local kind = type(err)
        if kind ~= "string" and kind ~= "number" then
            return "@err_handler_def:9: err_handler_def:9: attempt to concatenate local 'err' (a " .. kind .. " value)"
        end
        return info.source .. ":" .. info.currentline .. ": " .. err
    end
    killed = "Script killed by user with SCRIPT KILL..."
    redis.error_reply, redis.status_reply = py.error_reply62, py.status_reply62
    redis.replicate_commands = py.replicate_commands
    redis.acl_check_cmd, redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = nil, nil, nil
    for _, name in ipairs({"print", "getfenv", "setfenv", "newproxy"}) do globals[name] = _G[name] end
    globals.__redis__err__handler = handler
end

local function nonexistent(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end

-- a set of globals: the shared ones, a redis table of its own (functions add register_function), the
-- whole locked behind a proxy that is the scripts' _G
local function environment(extra)
    local own = setmetatable({}, {__index = globals})
    local api = {}
    for k, v in pairs(redis) do api[k] = v end
    for k, v in pairs(extra or {}) do api[k] = v end
    own.redis = readonly(api)
    local proxy = setmetatable({}, {__index = own, __newindex = readonly_error, __metatable = false})
    shown[proxy] = readonly({__index = nonexistent})
    own._G = proxy
    return own, proxy
end

-- a locked table's metatable as Redis's readonly tables show it (the globals' has its __index, the
-- others none), and setmetatable refused on them
local getmetatable = getmetatable
globals.getmetatable = function(...)
    local meta = shown[(...)]
    if meta == nil then
        meta = getmetatable(...)
        return meta
    end
    if meta ~= NONE then return meta end
    return nil
end
globals.setmetatable = function(...)
    if shown[(...)] ~= nil then error("Attempt to modify a readonly table", 0) end
    local t = setmetatable(...)
    return t
end
-- the functions written in Python are userdata to Lua: type() names them functions, as Redis's C ones
local python_functions = setmetatable({}, {__mode = "k"})
local function mark(t)
    for k, v in pairs(t) do
        if type(v) == "userdata" and k ~= "null" then python_functions[v] = true end  -- (cjson.null is one)
    end
end
mark(redis)
mark(globals.math)
for _, library in pairs(py.libraries) do mark(library) end
local rawtype = type
globals.type = function(...)
    if select("#", ...) == 0 then error("bad argument #1 to 'type' (value expected)", 2) end
    local kind = rawtype((...))
    if kind == "userdata" and python_functions[(...)] then return "function" end
    return kind
end
for _, name in ipairs({"string", "table", "math", "coroutine"}) do globals[name] = readonly(globals[name]) end
for name, library in pairs(py.libraries) do globals[name] = readonly(library) end
setmetatable(globals, {__index = nonexistent})

local eval_globals, eval_env = environment()

local helpers = {}
function helpers.compile(code, chunk, env)
    local f, err = loadstring(code, chunk)
    if not f then return nil, err end
    setfenv(f, env or eval_env)
    return f, nil
end
-- each returns exactly two values (the Python side unpacks them)
-- a run: KEYS and ARGV made here from the arguments after the key count (one call from Python), and
-- a status or error table told apart here (kind "ok" / "err" and its text: no further calls)
local rawget = rawget
local function finished(ok, value)
    if ok and type(value) == "table" then
        local err = rawget(value, "err")
        if type(err) == "string" then
            -- a command's error (redis.call / pcall) was counted in errorstats when the command failed
            return ok, err, rawget(value, "ignore_error_stats_update") and "counted" or "err"
        end
        local status = rawget(value, "ok")
        if type(status) == "string" then return ok, status, "ok" end
    end
    return ok, value, nil
end
local function split(count, ...)
    local keys, argv = {...}, {}
    local total = select("#", ...)
    for i = count + 1, total do
        argv[i - count] = keys[i]
        keys[i] = nil
    end
    return keys, argv
end
-- the busy check: every 100000 instructions the Python side looks at the time (and, past
-- busy-reply-threshold, answers the other clients); once the script is killed, every line fails, so
-- that no pcall can swallow it. The hook stays set between runs (setting it per run cost more than
-- the check): outside a run, or with no threshold, the check answers at once
local sethook, tick = debug.sethook, py.tick
local function busy_hook()
    if tick() then
        sethook(busy_hook, "l")
        if getinfo(2, "S").source ~= "=rdbtool" then  -- not in the error handler or our own frames
            error(killed, 0)
        end
    end
end
function helpers.arm()
    sethook(busy_hook, "", 100000)
end
helpers.arm()
function helpers.run(f, count, ...)
    eval_globals.KEYS, eval_globals.ARGV = split(count, ...)
    return finished(xpcall(f, handler))
end
function helpers.call(f, count, ...)
    local keys, argv = split(count, ...)
    return finished(xpcall(function() return f(keys, argv) end, handler))
end
function helpers.load(f)
    local ok, value = rawpcall(f)
    if not ok then value = converted(value) end
    if type(value) ~= "table" and not ok then value = "ERR " .. tostring(value) end
    return ok, value
end
-- a library's globals: while it loads, only a redis table to register functions with (and log); then,
-- for its functions when they run, the globals of a script (Redis swaps the __index of one table)
function helpers.library(register)
    python_functions[register] = true
    local own = environment()
    local api = setmetatable({register_function = register, log = redis.log, LOG_DEBUG = 0, LOG_VERBOSE = 1,
        LOG_NOTICE = 2, LOG_WARNING = 3, REDIS_VERSION = redis.REDIS_VERSION,
        REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}, {__index = nonexistent})
    local loading = setmetatable({redis = readonly(api)}, {__index = nonexistent})
    local meta = {__index = loading, __newindex = readonly_error, __metatable = false}
    local proxy = setmetatable({}, meta)
    own._G = proxy
    return proxy, function() meta.__index = own end
end
helpers.rawget = rawget
-- luaPushError's place, asked by a Python function Lua called: its caller's (level 1 is this function,
-- 2 the Python function)
function helpers.place()
    local info = getinfo(3, "Sl")
    return info and (info.source .. ": " .. info.currentline .. ": ") or ""
end
-- fresh {ok='OK'} tables made here in a batch (each handed to one redis.call reply: none is shared)
function helpers.ok_tables(count)
    local tables = {}
    for i = 1, count do tables[i] = {ok = "OK"} end
    return unpack(tables, 1, count)
end
helpers.type = type
-- with the accelerator, a script's function is run by its number in `kept` (Binding.run), which
-- does what helpers.run does
local kept = {}
function helpers.keep(f)
    kept[#kept + 1] = f
    return #kept
end
if bind_run then bind_run(handler, eval_globals, kept, py.take) end
return helpers
