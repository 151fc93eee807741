"""The commands of the Redis emulator: a per-connection keyspace and the answers of the persona's version.

Nothing is ever executed, loaded or connected to: EVAL answers an error without reading the
script as Lua, MODULE LOAD fails, SLAVEOF / REPLICAOF answer OK and only remember the master
(INFO then shows it, link down), CONFIG SET changes this connection's copy of the settings.
The keyspace is bounded (keys and bytes): past it, Redis's own OOM error.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from honeyguard.sensor.redisd import reply as r
from honeyguard.sensor.redisd.info import InfoFacts, info_text
from honeyguard.sensor.redisd.persona import RedisPersona

MAX_KEYS = 10_000
MAX_STORE_BYTES = 1024 * 1024
OOM = r.error("OOM command not allowed when used memory > 'maxmemory'.")
_SANDBOXED = re.compile(r"\b(package|io|os|loadstring|dofile|require|loadfile|load|debug)\b")

_DEFAULT_CONFIG = {
    "dir": "/var/lib/redis", "dbfilename": "dump.rdb", "requirepass": "", "masterauth": "",
    "bind": "* -::*", "protected-mode": "no", "save": "3600 1 300 100 60 10000", "appendonly": "no",
    "appendfilename": "appendonly.aof", "maxmemory": "0", "maxmemory-policy": "noeviction",
    "maxclients": "10000", "databases": "16", "logfile": "/var/log/redis/redis-server.log",
    "daemonize": "no", "supervised": "systemd", "timeout": "0", "tcp-keepalive": "300",
    "loglevel": "notice", "slave-read-only": "yes", "replica-read-only": "yes", "slaveof": "",
    "rdbcompression": "yes", "stop-writes-on-bgsave-error": "yes", "lua-time-limit": "5000",
}
_V7_CONFIG = {"enable-protected-configs": "no", "enable-debug-command": "no", "enable-module-command": "no"}
_PROTECTED = {"dir", "dbfilename"}  # Redis 7 refuses to change them unless enable-protected-configs


@dataclass
class Shared:
    """What every connection of one listener shares."""

    persona: RedisPersona
    port: int
    run_id: str
    sensor_started: float  # unix time the listener started
    connections: int = 0
    commands: int = 0


@dataclass
class Outcome:
    data: bytes  # the reply
    handled: bool = True
    close: bool = False  # hang up after the reply (QUIT, SHUTDOWN, a cross-protocol line)


Handler = Callable[[list[bytes]], bytes]


@dataclass
class RedisEmulator:
    shared: Shared
    now: Callable[[], float]  # unix time
    authed: bool = False
    db: int = 0
    master: tuple[str, str] | None = None
    store: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    name: str = ""
    used: int = 0  # bytes of keys and values held (kept up to date: summing per command would cost)
    count: int = 0  # keys held, every database
    _close: bool = False
    _handled: bool = True

    def __post_init__(self) -> None:
        persona = self.shared.persona
        self.version = persona.major_minor
        self.config = {**_DEFAULT_CONFIG, **(_V7_CONFIG if self.version >= (7, 0) else {}),
                       "port": str(self.shared.port), **persona.config}
        self.store = {0: {k.encode(): v.encode() for k, v in list(persona.keys.items())[:MAX_KEYS]}}
        self.used = sum(len(k) + len(v) for k, v in self.store[0].items())
        self.count = len(self.store[0])
        self.authed = persona.auth == "none"
        self.commands: dict[str, tuple[int, Handler]] = {
            "ping": (-1, self.ping), "echo": (2, self.echo), "quit": (-1, self.quit), "auth": (-2, self.auth),
            "info": (-1, self.info), "config": (-2, self.config_cmd), "set": (-3, self.set),
            "get": (2, self.get), "del": (-2, self.delete), "unlink": (-2, self.delete),
            "exists": (-2, self.exists), "keys": (2, self.keys), "scan": (-2, self.scan),
            "dbsize": (1, self.dbsize), "select": (2, self.select), "flushall": (-1, self.flush_all),
            "flushdb": (-1, self.flush_db), "save": (1, lambda a: r.OK),
            "bgsave": (-1, lambda a: r.simple("Background saving started")),
            "bgrewriteaof": (1, lambda a: r.simple("Background append only file rewriting started")),
            "lastsave": (1, lambda a: r.integer(int(self.now()) - 2400)), "type": (2, self.type_),
            "ttl": (2, self.ttl), "pttl": (2, self.ttl), "expire": (-3, self.expire), "incr": (2, self.incr),
            "slaveof": (3, self.slaveof), "module": (-2, self.module), "eval": (-3, self.eval),
            "evalsha": (-3, self.evalsha), "script": (-2, self.script), "client": (-2, self.client),
            "command": (-1, self.command), "time": (1, self.time), "role": (1, self.role),
            "shutdown": (-1, self.shutdown), "monitor": (1, lambda a: r.OK), "debug": (-2, self.debug),
            "randomkey": (1, self.randomkey),
        }
        if self.version >= (5, 0):
            self.commands["replicaof"] = (3, self.slaveof)
        if self.version >= (6, 0):
            self.commands["hello"] = (-1, self.hello)

    # -- dispatch ------------------------------------------------------------------------------

    def execute(self, args: list[bytes]) -> Outcome:
        self.shared.commands += 1
        self._close, self._handled = False, True
        name = args[0].decode("utf-8", "backslashreplace").lower()
        if name in ("post", "host:"):  # Redis's guard against HTTP sent to it: hang up, say nothing
            return Outcome(b"", handled=False, close=True)
        entry = self.commands.get(name)
        if entry is None:
            shown = [a.decode("utf-8", "replace") for a in args[1:]]
            return Outcome(r.unknown_command(self.version, args[0].decode("utf-8", "replace"), shown), False)
        arity, handler = entry
        if (arity > 0 and len(args) != arity) or (arity < 0 and len(args) < -arity):
            return Outcome(r.wrong_arity(name))
        if not self.authed and name not in ("auth", "quit", "hello"):
            return Outcome(r.error("NOAUTH Authentication required."))
        data = handler(args)
        return Outcome(data, self._handled, self._close)

    # -- connection ----------------------------------------------------------------------------

    def ping(self, args: list[bytes]) -> bytes:
        if len(args) > 2:
            return r.wrong_arity("ping")
        return r.bulk(args[1]) if len(args) == 2 else r.simple("PONG")

    def echo(self, args: list[bytes]) -> bytes:
        return r.bulk(args[1])

    def quit(self, args: list[bytes]) -> bytes:
        self._close = True
        return r.OK

    def auth(self, args: list[bytes]) -> bytes:
        if len(args) > 3 or (len(args) == 3 and self.version < (6, 0)):
            return r.error("ERR syntax error")
        if self.shared.persona.auth == "none":
            if self.version < (6, 0):
                return r.error("ERR Client sent AUTH, but no password is set")
            return r.error("ERR AUTH <password> called without any password configured for the default user. "
                           "Are you sure your configuration is correct?")
        self.authed = True  # any password: what the attacker does next is what we want to see
        return r.OK

    def hello(self, args: list[bytes]) -> bytes:
        if len(args) > 1 and args[1] not in (b"2",):
            return r.error("NOPROTO sorry, this protocol version is not supported.")
        persona = self.shared.persona
        if len(args) > 2 and args[2].lower() == b"auth":
            self.authed = self.authed or persona.auth == "any"
        if not self.authed:
            return r.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                           "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                           "select the RESP protocol version at the same time")
        return r.array(["server", "redis", "version", persona.version, "proto", 2, "id", 7,
                        "mode", "standalone", "role", "master" if self.master is None else "replica",
                        "modules", []])

    def client(self, args: list[bytes]) -> bytes:
        sub = args[1].decode("utf-8", "replace").lower()
        if sub == "setname" and len(args) == 3:
            self.name = args[2].decode("utf-8", "replace")[:128]
            return r.OK
        if sub == "getname":
            return r.bulk(self.name or None)
        if sub == "id":
            return r.integer(7)
        if sub in ("list", "info"):
            line = (f"id=7 addr=127.0.0.1:40000 fd=8 name={self.name} age=0 idle=0 flags=N db={self.db} "
                    f"sub=0 psub=0 multi=-1 qbuf=26 qbuf-free=32742 obl=0 oll=0 omem=0 events=r cmd=client\n")
            return r.bulk(line)
        return r.unknown_subcommand(self.version, "client", sub)

    def command(self, args: list[bytes]) -> bytes:
        sub = args[1].lower() if len(args) > 1 else b""
        if sub == b"count":
            return r.integer(len(self.commands))
        return r.array([])  # COMMAND, COMMAND DOCS (redis-cli's hints): nothing to describe

    def time(self, args: list[bytes]) -> bytes:
        now = self.now()
        return r.array([str(int(now)), str(int(now % 1 * 1_000_000))])

    def role(self, args: list[bytes]) -> bytes:
        if self.master is None:
            return r.array(["master", 0, []])
        return r.array(["slave", self.master[0], int(self.master[1]) if self.master[1].isdigit() else 0,
                        "connect", -1])

    def shutdown(self, args: list[bytes]) -> bytes:
        self._close = True
        return b""  # the server goes away without a reply

    def debug(self, args: list[bytes]) -> bytes:
        if self.version >= (7, 0):
            return r.error('ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", '
                           "you can run it from a local connection, otherwise you need to set this option in "
                           "the configuration file, and then restart the server.")
        return r.OK

    # -- server --------------------------------------------------------------------------------

    def info(self, args: list[bytes]) -> bytes:
        shared = self.shared
        now = self.now()
        facts = InfoFacts(uptime=shared.persona.uptime_seconds + int(now - shared.sensor_started),
                          now_unix=now, port=shared.port, keys=len(self.store.get(0, {})),
                          used_memory=shared.persona.used_memory + self.used,
                          commands_processed=shared.commands, connections_received=shared.connections,
                          master=self.master)
        sections = [a.decode("utf-8", "replace") for a in args[1:]]
        return r.bulk(info_text(shared.persona, facts, shared.run_id, sections))

    def config_cmd(self, args: list[bytes]) -> bytes:
        sub = args[1].decode("utf-8", "replace").lower()
        if sub == "get" and len(args) >= 3:
            patterns = [a.decode("utf-8", "replace").lower() for a in args[2:]]
            if len(patterns) > 1 and self.version < (7, 0):
                return r.wrong_arity("config|get" if self.version >= (7, 0) else "config")
            found: list[r.Value] = []
            for key, value in self.config.items():
                if any(fnmatch.fnmatchcase(key, p[:256]) for p in patterns):
                    found += [key, value]
            return r.array(found)
        if sub == "set" and len(args) >= 4 and len(args) % 2 == 0:
            return self._config_set(args[2:])
        if sub in ("resetstat", "rewrite"):
            return r.OK
        return r.unknown_subcommand(self.version, "config", sub)

    def _config_set(self, pairs: list[bytes]) -> bytes:
        if len(pairs) > 2 and self.version < (7, 0):
            return r.wrong_arity("config")
        updates = {}
        for index in range(0, len(pairs), 2):
            key = pairs[index].decode("utf-8", "replace").lower()
            value = pairs[index + 1].decode("utf-8", "backslashreplace")
            if key not in self.config:
                if self.version >= (7, 0):
                    return r.error(f"ERR Unknown option or number of arguments for CONFIG SET - '{key[:128]}'")
                return r.error(f"ERR Unsupported CONFIG parameter: {key[:128]}")
            if self.version >= (7, 0) and key in _PROTECTED and self.config.get("enable-protected-configs") == "no":
                return r.error(f"ERR CONFIG SET failed (possibly related to argument '{key}') - "
                               "can't set protected config")
            updates[key] = value[:4096]
        self.config.update(updates)
        return r.OK

    def slaveof(self, args: list[bytes]) -> bytes:
        host, port = (a.decode("utf-8", "backslashreplace")[:256] for a in args[1:3])
        if host.lower() == "no" and port.lower() == "one":
            self.master = None
            return r.OK
        if not port.isdigit():
            return r.error("ERR value is not an integer or out of range")
        self.master = (host, port)  # remembered for INFO and ROLE; the sensor never connects to it
        return r.OK

    def module(self, args: list[bytes]) -> bytes:
        sub = args[1].decode("utf-8", "replace").lower()
        if sub == "list":
            return r.array([])
        if self.version >= (7, 0) and self.config.get("enable-module-command") == "no":
            return r.error('ERR MODULE command not allowed. If the enable-module-command option is set to "local", '
                           "you can run it from a local connection, otherwise you need to set this option in the "
                           "configuration file, and then restart the server.")
        if sub == "load" and len(args) >= 3:
            return r.error("ERR Error loading the extension. Please check the server logs.")
        if sub == "unload" and len(args) == 3:
            return r.error("ERR Error unloading module: no such module with that name")
        return r.unknown_subcommand(self.version, "module", sub)

    # -- scripting: recorded, answered, never run ---------------------------------------------

    def eval(self, args: list[bytes]) -> bytes:
        script = args[1].decode("utf-8", "replace")
        sha = hashlib.sha1(args[1]).hexdigest()
        if not args[2].lstrip(b"-").isdigit():
            return r.error("ERR value is not an integer or out of range")
        found = _SANDBOXED.search(script)
        name = found.group(1) if found else "redis"
        if self.version >= (7, 0):
            return r.error(f"ERR user_script:1: Script attempted to access nonexistent global variable '{name}' "
                           f"script: {sha}, on @user_script:1.")
        return r.error(f"ERR Error running script (call to f_{sha}): @user_script:1: user_script:1: "
                       f"Script attempted to access nonexistent global variable '{name}' ")

    def evalsha(self, args: list[bytes]) -> bytes:
        return r.error("NOSCRIPT No matching script. Please use EVAL.")

    def script(self, args: list[bytes]) -> bytes:
        sub = args[1].decode("utf-8", "replace").lower()
        if sub == "load" and len(args) == 3:
            return r.bulk(hashlib.sha1(args[2]).hexdigest())
        if sub == "exists":
            return r.array([0] * (len(args) - 2))
        if sub in ("flush", "kill"):
            return r.OK if sub == "flush" else r.error("NOTBUSY No scripts in execution right now.")
        return r.unknown_subcommand(self.version, "script", sub)

    # -- keyspace ------------------------------------------------------------------------------

    @property
    def _keys(self) -> dict[bytes, bytes]:
        return self.store.setdefault(self.db, {})

    def _put(self, key: bytes, value: bytes) -> bool:
        """Store within the caps; False (nothing stored) when the keyspace is full."""
        keys = self._keys
        old = keys.get(key)
        if old is None and self.count >= MAX_KEYS:
            return False
        grown = len(value) - (len(old) if old is not None else -len(key))
        if self.used + grown > MAX_STORE_BYTES:
            return False
        keys[key] = value
        self.used += grown
        self.count += old is None
        return True

    def _drop(self, keys: dict[bytes, bytes], key: bytes) -> bool:
        value = keys.pop(key, None)
        if value is None:
            return False
        self.used -= len(key) + len(value)
        self.count -= 1
        return True

    def set(self, args: list[bytes]) -> bytes:
        key, value = args[1], args[2]
        options = {a.lower() for a in args[3:]}
        if (b"nx" in options and key in self._keys) or (b"xx" in options and key not in self._keys):
            return r.NIL
        return r.OK if self._put(key, value) else OOM

    def get(self, args: list[bytes]) -> bytes:
        return r.bulk(self._keys.get(args[1]))

    def delete(self, args: list[bytes]) -> bytes:
        keys = self._keys
        return r.integer(sum(self._drop(keys, key) for key in args[1:]))

    def exists(self, args: list[bytes]) -> bytes:
        return r.integer(sum(key in self._keys for key in args[1:]))

    def _matching(self, pattern: bytes) -> list[r.Value]:
        text = pattern.decode("utf-8", "replace")[:256]
        return [key for key in self._keys if fnmatch.fnmatchcase(key.decode("utf-8", "replace"), text)]

    def keys(self, args: list[bytes]) -> bytes:
        return r.array(self._matching(args[1]))

    def scan(self, args: list[bytes]) -> bytes:
        options = [a.lower() for a in args[2:]]
        pattern = args[2 + options.index(b"match") + 1] if b"match" in options[:-1] else b"*"
        return r.array(["0", self._matching(pattern)])

    def randomkey(self, args: list[bytes]) -> bytes:
        return r.bulk(next(iter(self._keys), None))

    def dbsize(self, args: list[bytes]) -> bytes:
        return r.integer(len(self._keys))

    def select(self, args: list[bytes]) -> bytes:
        if not args[1].isdigit():
            return r.error("ERR value is not an integer or out of range")
        index = int(args[1]) if len(args[1]) < 6 else 1 << 20
        if index >= int(self.config.get("databases", "16") or 16):
            return r.error("ERR DB index is out of range")
        self.db = index
        return r.OK

    def flush_all(self, args: list[bytes]) -> bytes:
        self.store, self.used, self.count = {}, 0, 0
        return r.OK

    def flush_db(self, args: list[bytes]) -> bytes:
        keys = self.store.pop(self.db, {})
        self.used -= sum(len(k) + len(v) for k, v in keys.items())
        self.count -= len(keys)
        return r.OK

    def type_(self, args: list[bytes]) -> bytes:
        return r.simple("string" if args[1] in self._keys else "none")

    def ttl(self, args: list[bytes]) -> bytes:
        return r.integer(-1 if args[1] in self._keys else -2)

    def expire(self, args: list[bytes]) -> bytes:
        if not args[2].lstrip(b"-").isdigit():
            return r.error("ERR value is not an integer or out of range")
        return r.integer(int(args[1] in self._keys))

    def incr(self, args: list[bytes]) -> bytes:
        current = self._keys.get(args[1], b"0")
        if not re.fullmatch(rb"-?[0-9]{1,18}", current):
            return r.error("ERR value is not an integer or out of range")
        value = str(int(current) + 1).encode()
        return r.integer(int(value)) if self._put(args[1], value) else OOM
