"""INFO, as the persona's Redis version prints it (fields that appeared in 6 or 7 only there).

The text starts with ``# Server`` then ``redis_version:`` as the real server's does: nmap's
Redis probe and most scanners read the version from exactly there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from honeyguard.sensor.redisd.persona import RedisPersona

SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
            "cluster", "keyspace")


@dataclass
class InfoFacts:
    """What changes between two INFO calls: time, clients, keys, the replication the attacker asked for."""

    uptime: int  # seconds
    now_unix: float
    port: int
    keys: int
    used_memory: int
    commands_processed: int
    connections_received: int
    master: tuple[str, str] | None  # (host, port) after SLAVEOF / REPLICAOF


def run_id(persona: RedisPersona, sensor: str, port: int) -> str:
    """40 hex characters, stable for one listener (a new run_id each connection would be a tell)."""
    return hashlib.sha1(f"{sensor}:{port}:{persona.id}".encode()).hexdigest()


def info_text(persona: RedisPersona, facts: InfoFacts, rid: str, sections: list[str]) -> str:
    wanted = [s.lower() for s in sections] or ["default"]
    every = any(s in ("all", "everything", "default") for s in wanted)
    chosen = [s for s in SECTIONS if every or s in wanted]
    if persona.major_minor[0] < 7:
        chosen = [s for s in chosen if s != "modules"]
    blocks = [_section(name, persona, facts, rid) for name in chosen]
    return "\r\n".join(blocks) + ("\r\n" if blocks else "")


def _section(name: str, persona: RedisPersona, f: InfoFacts, rid: str) -> str:
    rows = _ROWS[name](persona, f, rid)
    title = "Keyspace" if name == "keyspace" else name.capitalize()
    if name == "cpu":
        title = "CPU"
    return f"# {title}\r\n" + "".join(f"{key}:{value}\r\n" for key, value in rows)


def _server(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    major, _ = p.major_minor
    rows: list[tuple[str, object]] = [
        ("redis_version", p.version), ("redis_git_sha1", "00000000"), ("redis_git_dirty", 0),
        ("redis_build_id", p.build_id), ("redis_mode", "standalone"), ("os", p.os), ("arch_bits", 64),
    ]
    if major >= 7:
        rows.append(("monotonic_clock", "POSIX clock_gettime"))
    rows += [("multiplexing_api", "epoll"), ("atomicvar_api", "c11-builtin" if major >= 6 else "atomic-builtin"),
             ("gcc_version", p.gcc_version), ("process_id", p.process_id)]
    if major >= 7:
        rows.append(("process_supervised", "systemd"))
    rows += [("run_id", rid), ("tcp_port", f.port)]
    if major >= 7:
        rows.append(("server_time_usec", int(f.now_unix * 1_000_000)))
    rows += [("uptime_in_seconds", f.uptime), ("uptime_in_days", f.uptime // 86400), ("hz", 10),
             ("configured_hz", 10), ("lru_clock", int(f.now_unix) % (1 << 24)),
             ("executable", p.executable), ("config_file", p.config_file)]
    if major >= 6:
        rows.append(("io_threads_active", 0))
    return rows


def _clients(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("connected_clients", 1), ("client_recent_max_input_buffer", 20480),
            ("client_recent_max_output_buffer", 0), ("blocked_clients", 0)]


def _human(size: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def _memory(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("used_memory", f.used_memory), ("used_memory_human", _human(f.used_memory)),
            ("used_memory_rss", f.used_memory * 3), ("used_memory_rss_human", _human(f.used_memory * 3)),
            ("used_memory_peak", f.used_memory + 65536), ("used_memory_peak_human", _human(f.used_memory + 65536)),
            ("total_system_memory", 4_117_602_304), ("total_system_memory_human", "3.83G"),
            ("maxmemory", 0), ("maxmemory_human", "0B"), ("maxmemory_policy", "noeviction"),
            ("mem_fragmentation_ratio", "3.04"), ("mem_allocator", "jemalloc-5.2.1" if p.major_minor[0] >= 6
                                                   else "jemalloc-5.1.0")]


def _persistence(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("loading", 0), ("rdb_changes_since_last_save", 0), ("rdb_bgsave_in_progress", 0),
            ("rdb_last_save_time", int(f.now_unix) - 2400), ("rdb_last_bgsave_status", "ok"),
            ("aof_enabled", 0), ("aof_rewrite_in_progress", 0), ("aof_last_bgrewrite_status", "ok")]


def _stats(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("total_connections_received", f.connections_received),
            ("total_commands_processed", f.commands_processed), ("instantaneous_ops_per_sec", 0),
            ("rejected_connections", 0), ("expired_keys", 0), ("evicted_keys", 0), ("keyspace_hits", 0),
            ("keyspace_misses", 0), ("pubsub_channels", 0), ("pubsub_patterns", 0)]


def _replication(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    replid = hashlib.sha1(rid.encode()).hexdigest()
    if f.master is not None:
        return [("role", "slave"), ("master_host", f.master[0]), ("master_port", f.master[1]),
                ("master_link_status", "down"), ("master_last_io_seconds_ago", -1),
                ("master_sync_in_progress", 0), ("slave_read_repl_offset" if p.major_minor >= (7, 0)
                                                  else "slave_repl_offset", 1),
                ("slave_priority", 100), ("slave_read_only", 1), ("connected_slaves", 0),
                ("master_replid", replid), ("master_repl_offset", 0)]
    return [("role", "master"), ("connected_slaves", 0), ("master_replid", replid),
            ("master_replid2", "0" * 40), ("master_repl_offset", 0), ("second_repl_offset", -1),
            ("repl_backlog_active", 0), ("repl_backlog_size", 1048576)]


def _cpu(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    spent = f.uptime / 1000
    return [("used_cpu_sys", f"{spent * 0.6:.6f}"), ("used_cpu_user", f"{spent * 0.4:.6f}"),
            ("used_cpu_sys_children", "0.000000"), ("used_cpu_user_children", "0.000000")]


def _modules(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return []


def _cluster(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("cluster_enabled", 0)]


def _keyspace(p: RedisPersona, f: InfoFacts, rid: str) -> list[tuple[str, object]]:
    return [("db0", f"keys={f.keys},expires=0,avg_ttl=0")] if f.keys else []


_ROWS = {"server": _server, "clients": _clients, "memory": _memory, "persistence": _persistence,
         "stats": _stats, "replication": _replication, "cpu": _cpu, "modules": _modules,
         "cluster": _cluster, "keyspace": _keyspace}
