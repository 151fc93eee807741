"""Whole extraction jobs in C (``_iocscan.run_jobs``, see _ioccollect.h), where it is built.

``run_jobs(jobs)`` gives each job's IOCs, or None for a job it leaves to Python: one whose layers
open an extractor other than the download, URL and address ones, or that names known endpoints.
For the jobs it answers, the answer is ``extract._collect``'s exactly (the tests hold it so on
the reference corpus and on hostile input). A text without any word of the other gates is its
only layer, read in C (no Hyperscan scan: a quarter of the job's cost); one with such a word is
decoded by ``layers.layers``, called back, unless it opens an extractor not in C itself (then
Python would decode it again). The C code calls back the other memoised helpers too
(``host_class`` for names that are not dotted quads, ``own_names``, ``download_ops`` for
commands it does not answer itself), looked up at each call, so a test's swap reaches it.

``what_to_extract`` is ``iocs.py_what_to_extract`` in C. Both are used only when the constants
the C code was built with (gate words, shapes, roles, benign suffixes) are the Python modules'
(``EXPECTED_CONSTANTS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from honeyguard.detect.iocs import anchored, collector, downloads, layers
from honeyguard.detect.iocs import gates as G
from honeyguard.model import Ioc

#: what the C code hard-codes, as the Python modules define it
EXPECTED_CONSTANTS = {
    "gates": (G.PAYLOAD, G.EXTRACTORS, G.SHELL | G.MINER | G.HASH | G.IMAGE | G.JNDI | G.NC),
    "max_text_bytes": layers.MAX_TEXT_BYTES,
    "benign_suffixes": collector.BENIGN_SUFFIXES,
    "role_rank": collector.ROLE_RANK,
    # a layer without these opens only the download, URL and address gates (and PAYLOAD)
    "unhandled_words": tuple(
        word for gate, words in G._WORDS.items() if gate not in (G.DOWNLOAD, G.URL) for word in words
    ),
    "extractor_words": tuple(
        word for gate in (G.SHELL, G.NC, G.MINER, G.HASH, G.IMAGE, G.JNDI) for word in G._WORDS[gate]
    ),
    "handled_words": G._WORDS[G.DOWNLOAD] + G._WORDS[G.URL],
    # the IPv4 shape and gates._PAYLOAD's '() {' are written in C: these must be what it reads
    "payload_words": (b"${", b"$(", b"`", b"|", b"wget", b"curl", b"/dev/", b"base64", b"jndi", b"<?"),
}
_SHAPES = (rb"\$\{|\(\)\s*\{|\$\(|`|\||wget|curl|/dev/|base64|jndi|<\?", rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")


def _extension(name: str) -> Any:
    """The C extension's ``name``, or None (not built, or built from a source without it)."""
    return getattr(anchored._native, name, None)


def _bind() -> Callable[[Sequence[Any]], list[list[Ioc] | None]] | None:
    """``run_jobs`` over the helpers in use, or None: no extension, or one built from another
    version of the constants (then every job runs in Python)."""
    native = _extension("run_jobs")
    if native is None or _extension("JOB_CONSTANTS") != EXPECTED_CONSTANTS or (G._PAYLOAD, G._IPV4) != _SHAPES:
        return None

    def run_jobs(jobs: Sequence[Any]) -> list[list[Ioc] | None]:
        found: list[list[Ioc] | None] = native(
            jobs, layers.layers, collector.host_class, downloads.download_ops, collector.own_names, Ioc
        )
        return found

    return run_jobs


#: each job's IOCs or None (Python's job), in C; None where the extension is not built
run_jobs = _bind()
#: ``iocs.py_what_to_extract(line, head, body)`` in C (None where not built)
what_to_extract: Callable[[bytes, bytes, bytes], bool | None] | None = (
    _extension("what_to_extract") if run_jobs is not None else None
)
