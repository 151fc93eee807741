"""What one download command reveals: the URLs or hosts it fetches from (or sends data to).

A command's findings depend on its tool and arguments alone, and droppers repeat the same
command across requests that differ elsewhere (a cache-busting parameter, another target path),
so they are memoised: a bounded LRU of (tool, arguments) -> the collector calls to make, in order.
"""

from __future__ import annotations

import functools

from honeyguard.detect.iocs import anchored
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.hosts import host_like

#: One call to make on the collector: (a URL?, the URL or host, the port, the role).
Op = tuple[bool, bytes, bytes | None, str]
# commands remembered (arguments are at most 1,024 bytes, P.DOWNLOAD_CMD): a burst's droppers, not
# more: each miss evicts the oldest entry, and in a table of 1,024 that entry is out of the CPU's
# caches (a stream of distinct droppers took 0.7 us a request more)
MEMO_SIZE = 256


@functools.lru_cache(maxsize=MEMO_SIZE)
def download_ops(tool: bytes, args: bytes) -> tuple[Op, ...]:
    """The URLs (or bare hosts) ``tool`` (lower-cased) with ``args`` fetches, with their role:
    ``exfil`` when the command sends data out, else ``download``."""
    role = "exfil" if _exfil(args) else "download"
    urls = anchored.urls(args)
    if urls:
        return tuple([(True, url, None, role) for url in urls])
    ops: list[Op] = []
    tftp = tool.endswith((b"tftp", b"ftpget")) or P.TFTP_GET.search(args) is not None
    remote = P.TFTP_REMOTE.search(args) if tftp else None
    for token in P.HOST_TOKEN.finditer(args):
        host, port, path = token.group(1), token.group(2), token.group(3)
        if not host_like(host):
            continue
        if remote is not None and not path:  # -g HOST ... -r FILE: the file fetched over TFTP
            fetched = b"tftp://" + host + (b":" + port if port else b"") + b"/" + remote.group(1).lstrip(b"/")
            ops.append((True, fetched, None, role))
        if path and not tool.endswith((b"tftp", b"ftpget")):
            ops.append((True, b"http://" + host + (b":" + port if port else b"") + path, None, role))
        else:
            ops.append((False, host, port, role))
    return tuple(ops)


def _exfil(args: bytes) -> bool:
    """``P.EXFIL_FLAGS`` in the arguments; each of its alternatives holds one of the words tried
    first, which most download commands lack."""
    # (an int or find: 'bytes in bytes' raises and clears a TypeError inside CPython 3.11)
    if b"@"[0] not in args and args.find(b"$(") < 0 and b"`"[0] not in args:
        if b"-"[0] not in args:  # the other alternatives are flags: each holds a '-'
            return False
        lower = args.lower()
        if lower.find(b"-t") < 0 and lower.find(b"--upload-file") < 0 and lower.find(b"--post-file") < 0:
            return False
    return P.EXFIL_FLAGS.search(b" " + args) is not None
