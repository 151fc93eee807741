"""Shell builtins and interpreters: exit, history, export, which, sh/bash, busybox, env, and no-ops."""

from __future__ import annotations

from honeyguard.sensor.shell.fs import FsError
from honeyguard.sensor.shell.registry import Invocation, command


@command("exit", "logout")
def exit_(inv: Invocation) -> int:
    code = inv.args[0] if inv.args else str(inv.shell.last_status)
    inv.shell.exit(int(code) % 256 if code.isdecimal() and code.isascii() and len(code) < 10 else 2)
    return 0


@command("history")
def history(inv: Invocation) -> int:
    if inv.args[:1] == ["-c"]:
        inv.shell.history.clear()
        return 0
    for number, line in enumerate(inv.shell.history, start=1):
        inv.print(f"{number:>5}  {line}")
    return 0


@command("export")
def export(inv: Invocation) -> int:
    if not inv.args or inv.args == ["-p"]:
        for name, value in sorted(inv.shell.env.items()):
            inv.print(f'declare -x {name}="{value}"')
        return 0
    for arg in inv.args:
        name, sep, value = arg.partition("=")
        if not name.isidentifier():
            inv.error(f"{inv.shell.error_prefix}: export: `{arg}': not a valid identifier")
            return 1
        if sep:
            inv.shell.env[name] = value
        else:
            inv.shell.env.setdefault(name, "")
    return 0


@command("unset")
def unset(inv: Invocation) -> int:
    for name in inv.args:
        inv.shell.env.pop(name, None)
    return 0


@command("env", "printenv")
def env(inv: Invocation) -> int:
    if inv.name == "printenv" and inv.args:
        values = [inv.shell.env[name] for name in inv.args if name in inv.shell.env]
        for value in values:
            inv.print(value)
        return 0 if values else 1
    for name, value in inv.shell.env.items():
        inv.print(f"{name}={value}")
    return 0


# builtins that also exist as files in /usr/bin: `which` finds the file, `type` names the builtin
_ALSO_BUILTIN = frozenset({"echo", "printf", "pwd", "test", "[", "true", "false", "kill"})


@command("which", "command", "type")
def which(inv: Invocation) -> int:
    names = [a for a in inv.args if not a.startswith("-")]
    status = 0
    from honeyguard.sensor.shell.interpreter import BUILTINS

    for name in names:
        if inv.name != "which" and (name in BUILTINS or name in _ALSO_BUILTIN):
            inv.print(f"{name} is a shell builtin" if inv.name == "type" else name)
            continue
        path = inv.shell.which(name)
        if path is None:
            if inv.name == "type":
                inv.error(f"{inv.shell.error_prefix}: type: {name}: not found")
            status = 1
        elif inv.name == "type":
            inv.print(f"{name} is {path}")
        else:
            inv.print(path)
    return status


@command("sh", "bash", "dash", "source", ".")
def sh(inv: Invocation) -> int:
    args = list(inv.args)
    if args[:1] == ["-c"] and len(args) > 1:
        inv.out.append(inv.shell.run_script(args[1]))
        return inv.shell.last_status
    operands = [a for a in args if not a.startswith("-")]
    if not operands or "-s" in args:  # `sh -s ARG`: the script is stdin, the operands its arguments
        inv.out.append(inv.shell.run_script(inv.stdin))  # `curl ... | sh`
        return 0
    try:
        data = inv.shell.fs.read(inv.shell.path(operands[0]))
    except FsError:
        inv.error(f"{inv.name}: 0: cannot open {operands[0]}: No such file")
        return 2
    return inv.shell.execute_content(inv, data)


@command("busybox")
def busybox(inv: Invocation) -> int:
    if not inv.args:
        inv.print("BusyBox v1.30.1 (Ubuntu 1:1.30.1-7ubuntu3) multi-call binary.")
        return 0
    applet = inv.args[0]
    if applet not in inv.shell.commands or applet == "busybox":
        inv.error(f"{applet}: applet not found")
        return 127
    inner = type(inv)(shell=inv.shell, name=applet, args=inv.args[1:], stdin=inv.stdin, line=inv.line,
                      out=inv.out, err=inv.err)
    return inv.shell.dispatch(inner)


# commands that run another command: name -> their options that take a value
_WRAPPERS = {"sudo": {"-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U"}, "nohup": set(), "nice": {"-n"},
             "timeout": {"-s", "-k", "--signal", "--kill-after"}}


def _after_options(args: list[str], with_value: set[str]) -> list[str]:
    index = 0
    while index < len(args) and args[index].startswith("-") and len(args[index]) > 1:
        index += 2 if args[index] in with_value else 1
    return args[index:]


@command("true", ":", "sleep", "clear", "reset", "ulimit", "umask", "sync", "set", "alias", "unalias",
         "nohup", "disown", "wait", "trap", "shopt", "stty", "ulimit", "cron", "crontab", "kill", "pkill",
         "killall", "service", "systemctl", "iptables", "ufw", "setenforce", "chattr", "chown", "ln",
         "chpasswd", "usermod", "useradd", "sudo", "timeout", "nice", "top", "find", "tar", "gzip", "nc",
         "nslookup", "route", "reboot", "dos2unix", "lsattr", "rsync")
def quiet(inv: Invocation) -> int:
    """Commands whose silent success is the most convincing answer."""
    if inv.name in _WRAPPERS:
        args = _after_options(inv.args, _WRAPPERS[inv.name])
        if inv.name == "timeout":
            args = args[1:]  # the duration
        if not args:
            return 0
        inner = type(inv)(shell=inv.shell, name=args[0], args=args[1:], stdin=inv.stdin,
                          line=inv.line, out=inv.out, err=inv.err)
        return inv.shell.dispatch(inner)
    if inv.name == "crontab" and "-l" in inv.args:
        inv.error(f"no crontab for {inv.shell.username}")
        return 1
    return 0


@command("false")
def false(inv: Invocation) -> int:
    return 1


@command("passwd")
def passwd(inv: Invocation) -> int:
    inv.error("passwd: Authentication token manipulation error\npasswd: password unchanged")
    return 10
