/* Optional accelerator for scripting: redis.call / redis.pcall as C functions of the Lua state, and
 * the start of a script's run called from Python without lupa's conversions in between.
 *
 * Through lupa, every crossing between Python and Lua converts its values one at a time and takes
 * the runtime's lock; a one-call script crosses four times. Here a call's arguments become one
 * Python list of bytes, the Python dispatch (Scripting._execute) runs once, and the reply becomes Lua
 * values in C. Whatever this file does not convert itself (RESP3 maps, doubles, tables a script
 * returns...) it hands to the pure-Python twins in scripting.py through two lupa functions, so that
 * both paths give the same values; tests/server/test_scripting_accelerator.py proves it.
 *
 * It is also EVALSHA's handler: a cached script without flags runs from here (Binding.evalsha) without
 * Python's eval and _invoke; and redis.call decides its checks here for the calls its run lets it decide
 * (call_directly: a verdict Python cached per command name, the run's mode set once), the rest going to
 * Scripting._execute. Redis's semantics stay Python's wherever this file does not decide.
 *
 * lupa links Lua 5.1 into its lua51 module and exports its C API: the functions are looked up there
 * (dlopen of the module already loaded, dlsym), so this module needs no Lua headers nor library.
 * lua_env.lua fetches rdbtool_lua_bind with package.loadlib (the way a Lua state gets C functions).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

typedef struct lua_State lua_State;
typedef int (*lua_CFunction)(lua_State *);

/* Lua 5.1's ABI (lua.h): pseudo-indices and type tags */
#define REGISTRY (-10000)
#define UPVALUE(i) (-10002 - (i))
#define LUA_TNIL 0
#define LUA_TBOOLEAN 1
#define LUA_TNUMBER 3
#define LUA_TSTRING 4
#define LUA_TTABLE 5
/* how deep a command's reply is converted here; deeper ones are left to the Python twin */
#define DEPTH 64

static struct {
    int (*gettop)(lua_State *);
    void (*settop)(lua_State *, int);
    int (*type)(lua_State *, int);
    const char *(*tolstring)(lua_State *, int, size_t *);
    double (*tonumber)(lua_State *, int);
    int (*toboolean)(lua_State *, int);
    void *(*touserdata)(lua_State *, int);
    void (*pushnil)(lua_State *);
    void (*pushnumber)(lua_State *, double);
    void (*pushlstring)(lua_State *, const char *, size_t);
    void (*pushboolean)(lua_State *, int);
    void (*pushvalue)(lua_State *, int);
    void (*pushlightuserdata)(lua_State *, void *);
    void (*pushcclosure)(lua_State *, lua_CFunction, int);
    void (*createtable)(lua_State *, int, int);
    void (*setfield)(lua_State *, int, const char *);
    void (*rawget)(lua_State *, int);
    void (*rawgeti)(lua_State *, int, int);
    void (*rawseti)(lua_State *, int, int);
    int (*checkstack)(lua_State *, int);
    int (*error)(lua_State *);
    int (*pcall)(lua_State *, int, int, int);
    int (*ref)(lua_State *, int);
    void (*rawset)(lua_State *, int);
} lua;

static int resolve_lua(const char *path) {
    if (lua.ref != NULL) return 0;
    void *module = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (module == NULL) {
        PyErr_Format(PyExc_ImportError, "lupa's Lua module is not loaded: %s", dlerror());
        return -1;
    }
    static const char *const names[] = {
        "lua_gettop", "lua_settop", "lua_type", "lua_tolstring", "lua_tonumber", "lua_toboolean",
        "lua_touserdata", "lua_pushnil", "lua_pushnumber", "lua_pushlstring", "lua_pushboolean",
        "lua_pushvalue", "lua_pushlightuserdata", "lua_pushcclosure", "lua_createtable", "lua_setfield",
        "lua_rawget", "lua_rawgeti", "lua_rawseti", "lua_checkstack", "lua_error", "lua_pcall", "luaL_ref", "lua_rawset"};
    void *found[sizeof names / sizeof *names];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        found[i] = dlsym(module, names[i]);
        if (found[i] == NULL) {
            PyErr_Format(PyExc_ImportError, "lupa's Lua module lacks %s", names[i]);
            return -1;
        }
    }
    memcpy(&lua, found, sizeof lua); /* (the struct lists the same pointers in the same order) */
    return 0;
}

/* What one Lua state's accelerated functions use: the Python side they call, the Lua values they
 * reach (registry references), and the state itself (known once lua_env.lua binds it). */
typedef struct {
    PyObject_HEAD
    lua_State *L;
    PyObject *execute;  /* Scripting._execute(args): a call's reply, or LuaRaise */
    PyObject *execute_any; /* Scripting._execute_any(args): the same when some are not strings */
    PyObject *convert;  /* Scripting._convert(reply): the pure-Python conversion, kept for `converted` */
    PyObject *resp3;    /* Scripting._resp3(): whether the run's calls get RESP3 replies */
    PyObject *taken;    /* the list `take` appends a Lua value to, converted by lupa */
    PyObject *lua_raise, *status, *set_reply, *null_array;
    /* redis.call's checks decided here (call_directly): the verdicts Scripting._verdict caches by the
     * spelling of a command's name, Scripting._failed_call, the server whose _call runs the command, the
     * scripts' client, CommandError and OK */
    PyObject *verdicts, *failed_call, *server, *client, *command_error, *ok;
    PyObject *run;  /* the Run of the script running (NULL between runs) */
    PyObject *last_name; /* the last call's command name, made bytes (its hash kept): the next call's, mostly */
    /* EVALSHA run here (Binding.evalsha, bound by bind_eval): the Scripting, its scripts by sha, MONITOR's
     * clients, the engine, the config's values, Run, the Python handlers of EVALSHA and EVALSHA_RO (what
     * evalsha leaves to them), Scripting._after_busy and _answer, time.monotonic */
    PyObject *scripting, *scripts, *monitors, *engine, *values, *run_type, *by_sha, *by_sha_ro, *after_busy,
        *answer, *monotonic;
    int mode;       /* what the run lets call_directly decide: CHECKS_* */
    int dirty;      /* the run is known to have written (Run.dirty set) */
    int converted, take, handler, globals, kept; /* registry references */
    int names[5]; /* registry references of the strings of NAMES (pushed without hashing them again) */
} Binding;

/* the field names a run reads and sets, in Binding.names */
enum { NAME_KEYS, NAME_ARGV, NAME_ERR, NAME_OK, NAME_IGNORE_STATS };
static const char *const NAMES[] = {"KEYS", "ARGV", "err", "ok", "ignore_error_stats_update"};

static void push_name(Binding *b, lua_State *L, int name) { lua.rawgeti(L, REGISTRY, b->names[name]); }

/* What the run lets call_directly decide (Scripting._invoke says, from what it knows once per run):
 * nothing (its calls are checked in Python: a gated client, MONITOR, tracking, replication modes),
 * reads only (a read-only script: its writes are refused in Python), or reads and writes. */
enum { CHECKS_IN_PYTHON = 0, CHECKS_READS = 1, CHECKS_ALL = 2 };

static PyObject *str_call; /* an interned name (made once) */
/* the attributes a run reads and sets (interned once, in this order), one entry per attribute of one
 * type: a Slot is resolved for one type (the Script's name and the Run's are two) */
enum { A_DB, A_USER, A_GATED, A_TRACKING, A_IN_TRANSACTION, A_FLAGS, A_FUNCTION, A_NAME, A_READ_ONLY, A_RUN,
       A_CALLER, A_SCRIPTED, A_STARTED, A_RESP, A_BUSY, A_THRESHOLD, A_RUN_NAME, A_RUN_RESP, A_DIRTY,
       A_FAILED_CALLS, A_COUNT };
static const char *const attribute_names[A_COUNT] = {
    "db", "user", "gated", "tracking", "in_transaction", "flags", "function", "name", "read_only", "run",
    "caller", "scripted", "started", "resp", "busy", "busy-reply-threshold" /* (a key of the values) */,
    "name", "resp", "dirty", "failed_calls"};
static PyObject *attribute[A_COUNT];
static PyObject *empty_tuple, *zero_seconds;

/* --- the run's state on Python objects ------------------------------------------------------------
 * A run's state lives on Python objects (the caller, the scripts' client, the server, the engine, the
 * Scripting, the Run, the Script), read and set around each run. PyObject_GetAttr looks the name up in
 * the object's type on every call; a Slot does it once per type (again when the type changes): a
 * __slots__ member is read and written at its offset, a mypyc attribute through its getter and setter,
 * an attribute of the instance's dict in that dict. Anything else takes the generic way, so that the
 * result is always PyObject_GetAttr's and PyObject_SetAttr's. */
enum { SLOT_GENERIC, SLOT_MEMBER, SLOT_GETSET, SLOT_DICT };
typedef struct {
    PyTypeObject *type;    /* the type it was resolved for (a strong reference), or NULL */
    unsigned int version;  /* the type's version tag then (0: not cached) */
    int kind;              /* SLOT_* */
    Py_ssize_t offset;     /* SLOT_MEMBER: where the object holds it */
    PyGetSetDef *getset;   /* SLOT_GETSET: its getter and setter */
    PyObject *fallback;    /* SLOT_DICT: the type's own value under the name (not a descriptor), or NULL */
} Slot;
static Slot slot_of[A_COUNT];

static inline __attribute__((always_inline)) Slot *resolved(PyObject *obj, int name) {
    Slot *slot = &slot_of[name];
    PyTypeObject *type = Py_TYPE(obj);
    if (slot->type == type && slot->version != 0 && type->tp_version_tag == slot->version) return slot;
    PyObject *found = _PyType_Lookup(type, attribute[name]); /* (borrowed; gives the type its version tag) */
    Py_INCREF(type);
    Py_XSETREF(slot->type, type);
    slot->version = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    slot->kind = SLOT_GENERIC;
    Py_CLEAR(slot->fallback);
    if (type->tp_getattro != PyObject_GenericGetAttr || type->tp_setattro != PyObject_GenericSetAttr) {
        /* (__getattr__, __setattr__...: the generic way, always) */
    } else if (found != NULL && Py_IS_TYPE(found, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)found)->d_member;
        if (member->type == T_OBJECT_EX && member->flags == 0) {
            slot->kind = SLOT_MEMBER;
            slot->offset = member->offset;
        }
    } else if (found != NULL && Py_IS_TYPE(found, &PyGetSetDescr_Type)) {
        PyGetSetDef *getset = ((PyGetSetDescrObject *)found)->d_getset;
        if (getset->get != NULL && getset->set != NULL) {
            slot->kind = SLOT_GETSET;
            slot->getset = getset;
        }
    } else if ((found == NULL || Py_TYPE(found)->tp_descr_get == NULL) && type->tp_dictoffset != 0) {
        slot->kind = SLOT_DICT;
        slot->fallback = Py_XNewRef(found);
    }
    return slot;
}

/* obj.<name> (a new reference), or NULL with the error set */
static PyObject *get_attr(PyObject *obj, int name) {
    Slot *slot = resolved(obj, name);
    if (slot->kind == SLOT_MEMBER) {
        PyObject *value = *(PyObject **)((char *)obj + slot->offset);
        if (value != NULL) return Py_NewRef(value);
    } else if (slot->kind == SLOT_GETSET) {
        return slot->getset->get(obj, slot->getset->closure);
    } else if (slot->kind == SLOT_DICT) {
        PyObject **dict = _PyObject_GetDictPtr(obj);
        PyObject *value = dict != NULL && *dict != NULL ? PyDict_GetItemWithError(*dict, attribute[name]) : NULL;
        if (value != NULL) return Py_NewRef(value);
        if (PyErr_Occurred()) return NULL;
        if (slot->fallback != NULL) return Py_NewRef(slot->fallback);
    }
    return PyObject_GetAttr(obj, attribute[name]); /* (what is left, and the errors, as Python has them) */
}

/* obj.<name> = value: 0, or -1 with the error set */
static int set_attr(PyObject *obj, int name, PyObject *value) {
    Slot *slot = resolved(obj, name);
    if (slot->kind == SLOT_MEMBER) {
        PyObject **place = (PyObject **)((char *)obj + slot->offset);
        Py_XSETREF(*place, Py_NewRef(value));
        return 0;
    }
    if (slot->kind == SLOT_GETSET) return slot->getset->set(obj, value, slot->getset->closure);
    if (slot->kind == SLOT_DICT) {
        PyObject **dict = _PyObject_GetDictPtr(obj);
        if (dict != NULL && *dict != NULL) return PyDict_SetItem(*dict, attribute[name], value);
    }
    return PyObject_SetAttr(obj, attribute[name], value);
}

static Binding *binding_to_attach; /* made by Python, attached by lua_env.lua's rdbtool_lua_bind */

/* --- redis.call and redis.pcall ------------------------------------------------------------------ */

/* A Lua argument as Scripting._execute_any gets it: bytes, a number (float), or None (refused);
 * *strings stays true while every argument is a string. */
static PyObject *argument(lua_State *L, int index, int *strings) {
    int type = lua.type(L, index);
    if (type == LUA_TSTRING) {
        size_t size;
        const char *text = lua.tolstring(L, index, &size);
        return PyBytes_FromStringAndSize(text, (Py_ssize_t)size);
    }
    *strings = 0;
    if (type == LUA_TNUMBER) return PyFloat_FromDouble(lua.tonumber(L, index));
    Py_RETURN_NONE;
}

/* The first argument (the command's name, as argument makes it): the bytes of the last call when they
 * are equal (a script calls the same commands over and over), so that neither they nor their hash are
 * made again. */
static PyObject *command_name(Binding *b, lua_State *L, int *strings) {
    if (lua.type(L, 1) != LUA_TSTRING) return argument(L, 1, strings);
    size_t size;
    const char *text = lua.tolstring(L, 1, &size);
    PyObject *last = b->last_name;
    if (last != NULL && (size_t)PyBytes_GET_SIZE(last) == size && memcmp(PyBytes_AS_STRING(last), text, size) == 0)
        return Py_NewRef(last);
    PyObject *name = PyBytes_FromStringAndSize(text, (Py_ssize_t)size);
    if (name != NULL) Py_XSETREF(b->last_name, Py_NewRef(name));
    return name;
}

static int push_reply(Binding *b, lua_State *L, PyObject *reply, int *resp3, int depth);

/* converting(reply): in a frame of its own, as lupa's calls into Lua from Python empty the frame they
 * are made in (lua_settop(L, 0)): Scripting._convert makes the reply Lua's, `converted` pushes it. */
static int converting(lua_State *L) {
    Binding *b = (Binding *)lua.touserdata(L, UPVALUE(1));
    PyObject *done = PyObject_CallOneArg(b->convert, (PyObject *)lua.touserdata(L, 1));
    if (done == NULL) return 0; /* (the Python error stays set for push_converted) */
    Py_DECREF(done);
    lua.rawgeti(L, REGISTRY, b->converted);
    if (lua.pcall(L, 0, 1, 0) != 0) return lua.error(L);
    return 1;
}

/* A reply this file does not convert, made Lua's by the pure-Python twin. */
static int push_converted(Binding *b, lua_State *L, PyObject *reply) {
    lua.pushlightuserdata(L, b);
    lua.pushcclosure(L, converting, 1);
    lua.pushlightuserdata(L, reply);
    int failed = lua.pcall(L, 1, 1, 0);
    if (PyErr_Occurred()) return -1;
    if (failed) {
        const char *text = lua.tolstring(L, -1, NULL);
        PyErr_Format(PyExc_RuntimeError, "a reply could not reach Lua: %s", text ? text : "?");
        return -1;
    }
    return 0;
}

static int is_resp3(Binding *b, int *resp3) {
    if (*resp3 < 0) {
        PyObject *answer = PyObject_CallNoArgs(b->resp3);
        if (answer == NULL) return -1;
        *resp3 = PyObject_IsTrue(answer);
        Py_DECREF(answer);
    }
    return *resp3;
}

static int push_array(Binding *b, lua_State *L, PyObject *items, int *resp3, int depth) {
    Py_ssize_t size = PySequence_Fast_GET_SIZE(items);
    PyObject **item = PySequence_Fast_ITEMS(items);
    lua.createtable(L, size > INT_MAX ? INT_MAX : (int)size, 0);
    for (Py_ssize_t i = 0; i < size; i++) {
        if (push_reply(b, L, item[i], resp3, depth + 1) < 0) return -1;
        lua.rawseti(L, -2, (int)(i + 1));
    }
    return 0;
}

/* A command's reply as Lua gets it: the twin of Scripting._to_lua for the common kinds. */
static int push_reply(Binding *b, lua_State *L, PyObject *reply, int *resp3, int depth) {
    PyTypeObject *type = Py_TYPE(reply);
    if (!lua.checkstack(L, 4) || depth > DEPTH) return push_converted(b, L, reply);
    if (type == &PyBytes_Type) {
        lua.pushlstring(L, PyBytes_AS_STRING(reply), (size_t)PyBytes_GET_SIZE(reply));
        return 0;
    }
    if (type == &PyLong_Type) {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(reply, &overflow);
        if (overflow) return push_converted(b, L, reply);
        lua.pushnumber(L, (double)value); /* (lua_pushinteger in Lua 5.1) */
        return 0;
    }
    if (type == (PyTypeObject *)b->status) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(reply, &size);
        if (text == NULL) return -1;
        lua.createtable(L, 0, 1);
        push_name(b, L, NAME_OK);
        lua.pushlstring(L, text, (size_t)size);
        lua.rawset(L, -3);
        return 0;
    }
    if (reply == Py_None || reply == b->null_array || type == &PyBool_Type) {
        int modern = is_resp3(b, resp3);
        if (modern < 0) return -1;
        if (reply == Py_True || reply == Py_False) {
            if (modern) lua.pushboolean(L, reply == Py_True);
            else lua.pushnumber(L, reply == Py_True);
        } else if (modern) {
            lua.pushnil(L);
        } else {
            lua.pushboolean(L, 0);
        }
        return 0;
    }
    if (PyTuple_Check(reply) || (PyList_Check(reply) && type != (PyTypeObject *)b->set_reply)) {
        return push_array(b, L, reply, resp3, depth);
    }
    return push_converted(b, L, reply);
}

/* redis.pcall's error value, or what redis.call raises, for a LuaRaise (as lua_env.lua's `converted`
 * makes of it: a table with its err field, or a string). */
static void push_raised(lua_State *L, PyObject *error, int protected) {
    PyObject *text = PyObject_GetAttrString(error, "text");
    PyObject *table = PyObject_GetAttrString(error, "table");
    const char *data = "";
    Py_ssize_t size = 0;
    if (text != NULL && PyBytes_Check(text)) {
        data = PyBytes_AS_STRING(text);
        size = PyBytes_GET_SIZE(text);
    }
    if (protected || (table != NULL && PyObject_IsTrue(table) == 1)) {
        lua.createtable(L, 0, 2);
        lua.pushlstring(L, data, (size_t)size);
        lua.setfield(L, -2, "err");
        lua.pushboolean(L, 1);
        lua.setfield(L, -2, "ignore_error_stats_update");
    } else {
        lua.pushlstring(L, data, (size_t)size);
    }
    Py_XDECREF(text);
    Py_XDECREF(table);
    PyErr_Clear();
}

/* The Python error of a call, pushed for Lua: 1 when it is redis.pcall's value, -1 when it is raised. */
static int push_python_error(Binding *b, lua_State *L, int protected) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    int result = -1;
    if (value != NULL && PyObject_TypeCheck(value, (PyTypeObject *)b->lua_raise)) {
        push_raised(L, value, protected);
        result = protected ? 1 : -1;
    } else { /* a defect of ours: its text, as lupa's error would show it */
        PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
        const char *data = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
        lua.pushlstring(L, data ? data : "error during Python call", strlen(data ? data : "error during Python call"));
        Py_XDECREF(text);
        PyErr_Clear();
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return result;
}

/* redis.call's common call decided without Python's checks (Scripting._execute's twin for the run's
 * mode): a command whose verdict is cached, with its arity, that the script may call. 1 with the reply,
 * 0 when Python decides (nothing run), -1 on an error (a LuaRaise for a command's error reply). */
static int call_directly(Binding *b, PyObject *args, PyObject **reply) {
    Py_ssize_t count = PyList_GET_SIZE(args);
    if (b->mode == CHECKS_IN_PYTHON || count == 0) return 0;
    PyObject *verdict = PyDict_GetItemWithError(b->verdicts, PyList_GET_ITEM(args, 0));
    if (verdict == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(verdict) || PyTuple_GET_SIZE(verdict) != 5) return 0;
    PyObject *spec = PyTuple_GET_ITEM(verdict, 0);
    int writes = PyTuple_GET_ITEM(verdict, 2) == Py_True, write = PyTuple_GET_ITEM(verdict, 3) == Py_True;
    long arity = PyLong_AsLong(PyTuple_GET_ITEM(verdict, 4));
    if (arity == -1 && PyErr_Occurred()) return -1;
    if (PyTuple_GET_ITEM(verdict, 1) != Py_None || (arity > 0 && count != arity) || count < -arity) return 0;
    if (writes && b->mode != CHECKS_ALL) return 0;
    if (write && !b->dirty) { /* (as Redis marks a run dirty once a write passed its checks) */
        if (set_attr(b->run, A_DIRTY, Py_True) < 0) return -1;
        b->dirty = 1;
    }
    PyObject *failures = get_attr(spec, A_FAILED_CALLS);
    if (failures == NULL) return -1;
    PyObject *stack[] = {b->server, b->client, args, spec};
    *reply = PyObject_VectorcallMethod(str_call, stack, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (*reply != NULL && *reply != b->ok && PyObject_TypeCheck(*reply, (PyTypeObject *)b->command_error)) {
        PyObject *raised = PyObject_CallFunctionObjArgs(b->failed_call, spec, failures, *reply, NULL);
        Py_XDECREF(raised); /* (it raises: its LuaRaise is what redis.call raises) */
        Py_CLEAR(*reply);
    }
    Py_DECREF(failures);
    return *reply == NULL ? -1 : 1;
}

/* The call with the GIL held: the count of values pushed, or -1 with the error to raise on top. The
 * frame is emptied once the arguments are Python's (the Python side may call into Lua through lupa,
 * which empties it). */
static int call_python(Binding *b, lua_State *L, int protected) {
    int count = lua.gettop(L), strings = 1;
    PyObject *args = PyList_New(count);
    if (args == NULL) {
        lua.settop(L, 0);
        return push_python_error(b, L, protected);
    }
    for (int i = 0; i < count; i++) {
        PyObject *item = i == 0 ? command_name(b, L, &strings) : argument(L, i + 1, &strings);
        if (item == NULL) {
            Py_DECREF(args);
            lua.settop(L, 0);
            return push_python_error(b, L, protected);
        }
        PyList_SET_ITEM(args, i, item);
    }
    lua.settop(L, 0);
    PyObject *reply = NULL;
    int direct = strings ? call_directly(b, args, &reply) : 0;
    if (direct == 0) reply = PyObject_CallOneArg(strings ? b->execute : b->execute_any, args);
    Py_DECREF(args);
    if (reply == NULL) return push_python_error(b, L, protected);
    int resp3 = -1;
    int pushed = push_reply(b, L, reply, &resp3, 0);
    Py_DECREF(reply);
    if (pushed < 0) {
        lua.settop(L, 0);
        return push_python_error(b, L, protected);
    }
    return 1;
}

/* lupa runs Lua without the GIL: it is taken for the Python side, and let go before lua_error jumps. */
static int redis_call(lua_State *L, int protected) {
    Binding *b = (Binding *)lua.touserdata(L, UPVALUE(1));
    PyGILState_STATE gil = PyGILState_Ensure();
    int pushed = call_python(b, L, protected);
    PyGILState_Release(gil);
    return pushed < 0 ? lua.error(L) : pushed;
}

static int lua_redis_call(lua_State *L) { return redis_call(L, 0); }
static int lua_redis_pcall(lua_State *L) { return redis_call(L, 1); }

/* --- a run ---------------------------------------------------------------------------------------- */

static int lua_bind_run(lua_State *L);

/* rdbtool_lua_bind(converted): the Binding Python just made, attached to this state; returns
 * redis.call, redis.pcall and the function that binds the run's part (bind_run). */
__attribute__((visibility("default"))) int rdbtool_lua_bind(lua_State *L) {
    Binding *b = binding_to_attach;
    if (b == NULL || b->L != NULL) {
        lua.pushlstring(L, "rdbtool: no accelerator to bind", 31);
        return lua.error(L);
    }
    binding_to_attach = NULL;
    b->L = L;
    lua.settop(L, 1);
    b->converted = lua.ref(L, REGISTRY);
    for (int i = 0; i < (int)(sizeof NAMES / sizeof *NAMES); i++) {
        lua.pushlstring(L, NAMES[i], strlen(NAMES[i]));
        b->names[i] = lua.ref(L, REGISTRY);
    }
    lua.pushlightuserdata(L, b);
    lua.pushcclosure(L, lua_redis_call, 1);
    lua.pushlightuserdata(L, b);
    lua.pushcclosure(L, lua_redis_pcall, 1);
    lua.pushlightuserdata(L, b);
    lua.pushcclosure(L, lua_bind_run, 1);
    return 3;
}

/* bind_run(handler, eval_globals, kept, take): what Binding.run needs of the Lua side. */
static int lua_bind_run(lua_State *L) {
    Binding *b = (Binding *)lua.touserdata(L, UPVALUE(1));
    lua.settop(L, 4);
    b->take = lua.ref(L, REGISTRY); /* (luaL_ref pops the top: the arguments last to first) */
    b->kept = lua.ref(L, REGISTRY);
    b->globals = lua.ref(L, REGISTRY);
    b->handler = lua.ref(L, REGISTRY);
    return 0;
}

/* The Lua value at index as lupa gives it to Python (numbers with an integral value as int; tables,
 * functions and userdata through `take`, lupa's own conversion). */
static PyObject *python_value(Binding *b, lua_State *L, int index) {
    switch (lua.type(L, index)) {
    case LUA_TNIL:
        Py_RETURN_NONE;
    case LUA_TBOOLEAN:
        return PyBool_FromLong(lua.toboolean(L, index));
    case LUA_TNUMBER: {
        double number = lua.tonumber(L, index);
        if (number >= -9223372036854775808.0 && number < 9223372036854775808.0 && (double)(long long)number == number)
            return PyLong_FromLongLong((long long)number);
        return PyFloat_FromDouble(number);
    }
    case LUA_TSTRING: {
        size_t size;
        const char *text = lua.tolstring(L, index, &size);
        return PyBytes_FromStringAndSize(text, (Py_ssize_t)size);
    }
    default: {
        lua.rawgeti(L, REGISTRY, b->take);
        lua.pushvalue(L, index);
        if (lua.pcall(L, 1, 0, 0) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "a Lua value could not reach Python");
            return NULL;
        }
        Py_ssize_t size = PyList_GET_SIZE(b->taken);
        if (size == 0) {
            PyErr_SetString(PyExc_RuntimeError, "a Lua value did not reach Python");
            return NULL;
        }
        PyObject *value = PyList_GET_ITEM(b->taken, size - 1);
        Py_INCREF(value);
        if (PyList_SetSlice(b->taken, size - 1, size, NULL) < 0) {
            Py_DECREF(value);
            return NULL;
        }
        return value;
    }
    }
}

/* The string in table[name], or NULL (a rawget, as lua_env.lua's `finished` reads it). */
static const char *string_field(Binding *b, lua_State *L, int table, int name, size_t *size) {
    push_name(b, L, name);
    lua.rawget(L, table);
    const char *text = lua.type(L, -1) == LUA_TSTRING ? lua.tolstring(L, -1, size) : NULL;
    return text;
}

/* the kinds of a run's outcome that helpers.run tells apart (made once) */
static PyObject *kind_ok, *kind_err, *kind_counted;

/* (ok, value, kind), the value's reference taken over. */
static PyObject *answer(int ok, PyObject *value, PyObject *kind) {
    if (value == NULL) return NULL;
    PyObject *packed = PyTuple_Pack(3, ok ? Py_True : Py_False, value, kind);
    Py_DECREF(value);
    return packed;
}

/* (ok, value, kind) as helpers.run answers: a status or error table told apart here. */
static PyObject *outcome(Binding *b, lua_State *L, int ok) {
    int result = lua.gettop(L);
    if (ok && lua.type(L, result) == LUA_TTABLE) {
        size_t size;
        const char *text = string_field(b, L, result, NAME_ERR, &size);
        if (text != NULL) {
            PyObject *value = PyBytes_FromStringAndSize(text, (Py_ssize_t)size);
            push_name(b, L, NAME_IGNORE_STATS);
            lua.rawget(L, result);
            return answer(1, value, lua.toboolean(L, -1) ? kind_counted : kind_err);
        }
        text = string_field(b, L, result, NAME_OK, &size);
        if (text != NULL) return answer(1, PyBytes_FromStringAndSize(text, (Py_ssize_t)size), kind_ok);
    }
    return answer(ok, python_value(b, L, result), Py_None);
}

static int push_strings(lua_State *L, PyObject *const *items, Py_ssize_t count) {
    lua.createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyBytes_Check(items[i])) {
            PyErr_SetString(PyExc_TypeError, "a script's arguments are bytes");
            return -1;
        }
        lua.pushlstring(L, PyBytes_AS_STRING(items[i]), (size_t)PyBytes_GET_SIZE(items[i]));
        lua.rawseti(L, -2, (int)(i + 1));
    }
    return 0;
}

/* The script kept under number run with the keys and arguments of command (EVAL or EVALSHA, the script,
 * the key count, then them): the twin of helpers.run, with run its Run and mode what its calls' checks
 * call_directly may decide (CHECKS_*). (ok, value, kind) as helpers.run answers. */
static PyObject *run_kept(Binding *b, long number, Py_ssize_t count, PyObject *command, PyObject *run, long mode) {
    lua_State *L = b->L;
    Py_ssize_t total = PyList_GET_SIZE(command) - 3;
    PyObject *const *items = PySequence_Fast_ITEMS(command) + 3;
    if (count < 0 || count > total || !lua.checkstack(L, 10)) {
        PyErr_SetString(PyExc_ValueError, "a key count beyond the arguments");
        return NULL;
    }
    int top = lua.gettop(L);
    lua.rawgeti(L, REGISTRY, b->handler);
    lua.rawgeti(L, REGISTRY, b->globals);
    PyObject *answer = NULL;
    push_name(b, L, NAME_KEYS); /* (the globals of a script have no __newindex: a rawset sets them) */
    if (push_strings(L, items, count) < 0) goto done;
    lua.rawset(L, top + 2);
    push_name(b, L, NAME_ARGV);
    if (push_strings(L, items + count, total - count) < 0) goto done;
    lua.rawset(L, top + 2);
    lua.settop(L, top + 1);
    lua.rawgeti(L, REGISTRY, b->kept);
    lua.rawgeti(L, top + 2, (int)number);
    Py_INCREF(run);
    Py_XSETREF(b->run, run);
    b->mode = mode == CHECKS_READS || mode == CHECKS_ALL ? (int)mode : CHECKS_IN_PYTHON;
    b->dirty = 0;
    /* (the GIL is kept: the script's calls need it, and Python code they run lets other threads in) */
    int ok = lua.pcall(L, 0, 1, top + 1) == 0;
    b->mode = CHECKS_IN_PYTHON;
    Py_CLEAR(b->run);
    answer = outcome(b, L, ok);
done:
    lua.settop(L, top);
    return answer;
}

/* Binding.run(number, count, command, run, mode): run_kept for Scripting._invoke. */
static PyObject *Binding_run(Binding *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || b->L == NULL || b->kept == 0 || !PyList_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "run(number, count, command, run, mode) of a bound state");
        return NULL;
    }
    long number = PyLong_AsLong(args[0]);
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    long mode = PyLong_AsLong(args[4]);
    if (PyErr_Occurred()) return NULL;
    return run_kept(b, number, count, args[2], args[3], mode);
}

/* --- EVALSHA ------------------------------------------------------------------------------------------ */

/* A key count as clients send it (decimal digits, no sign nor leading zero, as string2ll reads them) and
 * at most most; -1 for any other, which Python's eval checks. */
static long small_count(PyObject *text, Py_ssize_t most) {
    if (!PyBytes_Check(text)) return -1;
    Py_ssize_t size = PyBytes_GET_SIZE(text);
    const char *digits = PyBytes_AS_STRING(text);
    if (size < 1 || size > 9 || (size > 1 && digits[0] == '0')) return -1;
    long count = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        if (digits[i] < '0' || digits[i] > '9') return -1;
        count = count * 10 + (digits[i] - '0');
    }
    return count <= most ? count : -1;
}

/* obj.<attribute> = value, the value's reference taken over (for a chain of them: -1 once one fails). */
static int set_taken(PyObject *obj, int name, PyObject *value) {
    if (value == NULL) return -1;
    int failed = set_attr(obj, name, value);
    Py_DECREF(value);
    return failed;
}

/* The state of a run around it, as Scripting._invoke sets it for a caller that does not track keys: its
 * calls are the caller's (database, user, gate), no command blocks, the busy hook counts from now. */
static int start_run(Binding *b, PyObject *caller, PyObject *run, int *gated) {
    static const int mirrored[] = {A_DB, A_USER, A_GATED};
    for (size_t i = 0; i < sizeof mirrored / sizeof *mirrored; i++) {
        PyObject *value = get_attr(caller, mirrored[i]);
        if (value != NULL && mirrored[i] == A_GATED) *gated = PyObject_IsTrue(value);
        if (set_taken(b->client, mirrored[i], value) < 0) return -1;
    }
    if (*gated < 0 || set_attr(b->server, A_IN_TRANSACTION, Py_True) < 0 || set_attr(b->scripting, A_RUN, run) < 0 ||
        set_attr(b->scripting, A_CALLER, caller) < 0 || set_attr(b->engine, A_SCRIPTED, Py_True) < 0)
        return -1;
    PyObject *threshold = PyDict_GetItemWithError(b->values, attribute[A_THRESHOLD]); /* (borrowed) */
    if (threshold != NULL && PyLong_Check(threshold) && Py_SIZE(threshold) > 0)
        return set_taken(run, A_STARTED, PyObject_CallNoArgs(b->monotonic));
    return 0;
}

/* The state of a run put back (the twin of _invoke's `finally`): 0, or -1 with an error set. */
static int end_run(Binding *b, PyObject *run, PyObject *was_in_transaction) {
    if (set_attr(b->scripting, A_RUN, Py_None) < 0 || set_attr(b->engine, A_SCRIPTED, Py_False) < 0 ||
        set_attr(b->server, A_IN_TRANSACTION, was_in_transaction) < 0)
        return -1;
    PyObject *resp = get_attr(run, A_RUN_RESP);
    if (resp == NULL) return -1;
    long protocol = PyLong_AsLong(resp);
    Py_DECREF(resp);
    if (protocol == -1 && PyErr_Occurred()) return -1;
    if (protocol != 2 && set_taken(b->client, A_RESP, PyLong_FromLong(2)) < 0) return -1; /* (redis.setresp) */
    PyObject *busy = get_attr(run, A_BUSY);
    int after = busy != NULL ? PyObject_IsTrue(busy) : -1;
    Py_XDECREF(busy);
    if (after <= 0) return after;
    PyObject *done = PyObject_CallOneArg(b->after_busy, run);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* The reply of a run from its outcome: OK for the common status, else Scripting._answer's. */
static PyObject *reply_of(Binding *b, PyObject *run, PyObject *outcome, PyObject *command) {
    PyObject *value = PyTuple_GET_ITEM(outcome, 1), *kind = PyTuple_GET_ITEM(outcome, 2);
    if (kind == kind_ok && PyBytes_GET_SIZE(value) == 2 && memcmp(PyBytes_AS_STRING(value), "OK", 2) == 0) {
        Py_INCREF(b->ok);
        return b->ok;
    }
    PyObject *stack[] = {run, PyTuple_GET_ITEM(outcome, 0), value, kind, command};
    return PyObject_Vectorcall(b->answer, stack, 5, NULL);
}

/* Run(name, read_only) as its __init__ makes it, without the call of a Python function. */
static PyObject *new_run(Binding *b, PyObject *name, int read_only) {
    PyTypeObject *type = (PyTypeObject *)b->run_type;
    PyObject *run = type->tp_new(type, empty_tuple, NULL);
    if (run == NULL) return NULL;
    if (set_attr(run, A_RUN_NAME, name) < 0 || set_attr(run, A_READ_ONLY, read_only ? Py_True : Py_False) < 0 ||
        set_taken(run, A_RUN_RESP, PyLong_FromLong(2)) < 0 || set_attr(run, A_BUSY, Py_False) < 0 ||
        set_attr(run, A_DIRTY, Py_False) < 0 || set_attr(run, A_STARTED, zero_seconds) < 0)
        Py_CLEAR(run);
    return run;
}

/* A run of a script found for EVALSHA: the twin of Scripting._invoke for a caller that does not track keys
 * (no MONITOR, a script without flags). */
static PyObject *run_found(Binding *b, PyObject *caller, PyObject *command, PyObject *script, long count,
                           int read_only) {
    PyObject *function = get_attr(script, A_FUNCTION);
    PyObject *name = function != NULL ? get_attr(script, A_NAME) : NULL;
    long number = function != NULL ? PyLong_AsLong(function) : -1;
    PyObject *run = name != NULL && !PyErr_Occurred() ? new_run(b, name, read_only) : NULL;
    Py_XDECREF(function);
    Py_XDECREF(name);
    if (run == NULL) return NULL;
    PyObject *was_in_transaction = get_attr(b->server, A_IN_TRANSACTION);
    if (was_in_transaction == NULL) {
        Py_DECREF(run);
        return NULL;
    }
    int gated = -1;
    PyObject *outcome = NULL;
    if (start_run(b, caller, run, &gated) == 0) {
        long mode = gated ? CHECKS_IN_PYTHON : read_only ? CHECKS_READS : CHECKS_ALL;
        outcome = run_kept(b, number, count, command, run, mode);
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback); /* (put back whatever happened, as a `finally`) */
    int ended = end_run(b, run, was_in_transaction);
    Py_DECREF(was_in_transaction);
    if (type != NULL) {
        if (ended == 0) {
            PyErr_Restore(type, value, traceback);
        } else {
            Py_DECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(traceback);
        }
    }
    PyObject *reply = outcome != NULL && ended == 0 ? reply_of(b, run, outcome, command) : NULL;
    Py_XDECREF(outcome);
    Py_DECREF(run);
    return reply;
}

/* Binding.evalsha(client, args) and evalsha_ro: EVALSHA's handler once scripting started. A script cached
 * under the sha, without flags, its key count as clients send it, for a caller that does not track keys
 * while no client monitors, runs here; any other call goes to the Python handler (Scripting._by_sha's). */
static PyObject *evalsha(Binding *b, PyObject *const *argv, Py_ssize_t nargs, int read_only) {
    PyObject *handler = read_only ? b->by_sha_ro : b->by_sha;
    if (nargs != 2 || handler == NULL || b->L == NULL || b->kept == 0 || !PyList_Check(argv[1])) {
        PyErr_SetString(PyExc_TypeError, "evalsha(client, args) of a bound state");
        return NULL;
    }
    PyObject *caller = argv[0], *command = argv[1];
    Py_ssize_t size = PyList_GET_SIZE(command);
    if (size < 3 || PyList_GET_SIZE(b->monitors) > 0) return PyObject_Vectorcall(handler, argv, 2, NULL);
    PyObject *script = PyDict_GetItemWithError(b->scripts, PyList_GET_ITEM(command, 1));
    long count = small_count(PyList_GET_ITEM(command, 2), size - 3);
    if (script == NULL && PyErr_Occurred()) return NULL;
    if (script == NULL || count < 0) return PyObject_Vectorcall(handler, argv, 2, NULL);
    Py_INCREF(script);
    PyObject *flags = get_attr(script, A_FLAGS);
    PyObject *tracking = flags != NULL ? get_attr(caller, A_TRACKING) : NULL;
    PyObject *reply = NULL;
    if (tracking != NULL) {
        reply = flags == Py_None && tracking == Py_None ? run_found(b, caller, command, script, count, read_only)
                                                        : PyObject_Vectorcall(handler, argv, 2, NULL);
    }
    Py_XDECREF(flags);
    Py_XDECREF(tracking);
    Py_DECREF(script);
    return reply;
}

static PyObject *Binding_evalsha(Binding *b, PyObject *const *argv, Py_ssize_t nargs) {
    return evalsha(b, argv, nargs, 0);
}

static PyObject *Binding_evalsha_ro(Binding *b, PyObject *const *argv, Py_ssize_t nargs) {
    return evalsha(b, argv, nargs, 1);
}

/* Binding.bind_eval(scripting, scripts, monitors, engine, values, Run, by_sha, by_sha_ro, after_busy, answer,
 * monotonic): what evalsha reads, once the Python side has it. */
static PyObject *Binding_bind_eval(Binding *b, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11 || !PyDict_Check(args[1]) || !PyList_Check(args[2]) || !PyDict_Check(args[4]) ||
        !PyType_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "bind_eval(scripting, scripts, monitors, engine, values, Run, by_sha, "
                                         "by_sha_ro, after_busy, answer, monotonic)");
        return NULL;
    }
    PyObject **slots[] = {&b->scripting, &b->scripts, &b->monitors, &b->engine, &b->values, &b->run_type,
                          &b->by_sha, &b->by_sha_ro, &b->after_busy, &b->answer, &b->monotonic};
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        Py_XSETREF(*slots[i], args[i]);
    }
    Py_RETURN_NONE;
}

/* Binding(lua_module_path, execute, execute_any, convert, resp3, taken, LuaRaise, Status, SetReply,
 * NULL_ARRAY, verdicts, failed_call, server, client, CommandError, OK) */
static PyObject *Binding_new(PyTypeObject *type, PyObject *args, PyObject *Py_UNUSED(kwargs)) {
    const char *path;
    PyObject *execute, *execute_any, *convert, *resp3, *taken, *lua_raise, *status, *set_reply, *null_array;
    PyObject *verdicts, *failed_call, *server, *client, *command_error, *ok;
    if (!PyArg_ParseTuple(args, "sOOOOO!O!O!O!OO!OOOO!O:Binding", &path, &execute, &execute_any, &convert, &resp3,
                          &PyList_Type, &taken, &PyType_Type, &lua_raise, &PyType_Type, &status, &PyType_Type,
                          &set_reply, &null_array, &PyDict_Type, &verdicts, &failed_call, &server, &client,
                          &PyType_Type, &command_error, &ok))
        return NULL;
    if (resolve_lua(path) < 0) return NULL;
    Binding *b = (Binding *)type->tp_alloc(type, 0);
    if (b == NULL) return NULL;
    PyObject **slots[] = {&b->execute, &b->execute_any, &b->convert, &b->resp3, &b->taken, &b->lua_raise,
                          &b->status, &b->set_reply, &b->null_array, &b->verdicts, &b->failed_call, &b->server,
                          &b->client, &b->command_error, &b->ok};
    PyObject *values[] = {execute, execute_any, convert, resp3, taken, lua_raise, status, set_reply, null_array,
                          verdicts, failed_call, server, client, command_error, ok};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        Py_INCREF(values[i]);
        *slots[i] = values[i];
    }
    binding_to_attach = b; /* (borrowed: Python keeps it while its Lua state lives) */
    return (PyObject *)b;
}

static int Binding_traverse(Binding *b, visitproc visit, void *arg) {
    Py_VISIT(b->execute);
    Py_VISIT(b->execute_any);
    Py_VISIT(b->convert);
    Py_VISIT(b->resp3);
    Py_VISIT(b->taken);
    Py_VISIT(b->lua_raise);
    Py_VISIT(b->status);
    Py_VISIT(b->set_reply);
    Py_VISIT(b->null_array);
    Py_VISIT(b->verdicts);
    Py_VISIT(b->failed_call);
    Py_VISIT(b->server);
    Py_VISIT(b->client);
    Py_VISIT(b->command_error);
    Py_VISIT(b->ok);
    Py_VISIT(b->run);
    Py_VISIT(b->last_name);
    Py_VISIT(b->scripting);
    Py_VISIT(b->scripts);
    Py_VISIT(b->monitors);
    Py_VISIT(b->engine);
    Py_VISIT(b->values);
    Py_VISIT(b->run_type);
    Py_VISIT(b->by_sha);
    Py_VISIT(b->by_sha_ro);
    Py_VISIT(b->after_busy);
    Py_VISIT(b->answer);
    Py_VISIT(b->monotonic);
    return 0;
}

static int Binding_clear(Binding *b) {
    Py_CLEAR(b->execute);
    Py_CLEAR(b->execute_any);
    Py_CLEAR(b->convert);
    Py_CLEAR(b->resp3);
    Py_CLEAR(b->taken);
    Py_CLEAR(b->lua_raise);
    Py_CLEAR(b->status);
    Py_CLEAR(b->set_reply);
    Py_CLEAR(b->null_array);
    Py_CLEAR(b->verdicts);
    Py_CLEAR(b->failed_call);
    Py_CLEAR(b->server);
    Py_CLEAR(b->client);
    Py_CLEAR(b->command_error);
    Py_CLEAR(b->ok);
    Py_CLEAR(b->run);
    Py_CLEAR(b->last_name);
    Py_CLEAR(b->scripting);
    Py_CLEAR(b->scripts);
    Py_CLEAR(b->monitors);
    Py_CLEAR(b->engine);
    Py_CLEAR(b->values);
    Py_CLEAR(b->run_type);
    Py_CLEAR(b->by_sha);
    Py_CLEAR(b->by_sha_ro);
    Py_CLEAR(b->after_busy);
    Py_CLEAR(b->answer);
    Py_CLEAR(b->monotonic);
    return 0;
}

static void Binding_dealloc(Binding *b) {
    if (binding_to_attach == b) binding_to_attach = NULL;
    PyObject_GC_UnTrack(b);
    Binding_clear(b);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyMethodDef Binding_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Binding_run, METH_FASTCALL,
     "run(number, count, command, run, mode): (ok, value, kind) of the script kept under number"},
    {"evalsha", (PyCFunction)(void (*)(void))Binding_evalsha, METH_FASTCALL, "evalsha(client, args): EVALSHA's reply"},
    {"evalsha_ro", (PyCFunction)(void (*)(void))Binding_evalsha_ro, METH_FASTCALL,
     "evalsha_ro(client, args): EVALSHA_RO's reply"},
    {"bind_eval", (PyCFunction)(void (*)(void))Binding_bind_eval, METH_FASTCALL,
     "bind_eval(scripting, scripts, monitors, engine, values, Run, by_sha, by_sha_ro, after_busy, answer, "
     "monotonic)"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Binding_members[] = {
    {"mode", T_INT, offsetof(Binding, mode), 0,
     "what the running script's calls let C decide of their checks (0: nothing, from now on)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject BindingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rdbtools.server._luacall.Binding",
    .tp_basicsize = sizeof(Binding),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One Lua state's accelerated redis.call, redis.pcall and runs.",
    .tp_new = Binding_new,
    .tp_dealloc = (destructor)Binding_dealloc,
    .tp_traverse = (traverseproc)Binding_traverse,
    .tp_clear = (inquiry)Binding_clear,
    .tp_methods = Binding_methods,
    .tp_members = Binding_members,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rdbtools.server._luacall",
                                    "redis.call and script runs in C (see _luacall.c)", -1, NULL};

PyMODINIT_FUNC PyInit__luacall(void) {
    if (PyType_Ready(&BindingType) < 0) return NULL;
    kind_ok = PyBytes_FromString("ok");
    kind_err = PyBytes_FromString("err");
    kind_counted = PyBytes_FromString("counted");
    if (kind_ok == NULL || kind_err == NULL || kind_counted == NULL) return NULL;
    str_call = PyUnicode_InternFromString("_call");
    if (str_call == NULL) return NULL;
    empty_tuple = PyTuple_New(0);
    zero_seconds = PyFloat_FromDouble(0.0);
    if (empty_tuple == NULL || zero_seconds == NULL) return NULL;
    for (int i = 0; i < A_COUNT; i++) {
        attribute[i] = PyUnicode_InternFromString(attribute_names[i]);
        if (attribute[i] == NULL) return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&BindingType);
    if (PyModule_AddObject(m, "Binding", (PyObject *)&BindingType) < 0) {
        Py_DECREF(&BindingType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
