"""Which files to read, and the DuckDB table function that reads them leniently."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from honeyguard.errors import HoneyguardError


class FlowInputError(HoneyguardError):
    """A flow-log path given on the command line does not exist or holds no files."""


# The VPC Flow Logs v2 default format, in order, plus one sentinel column: with null padding a line
# with too few fields leaves log_status NULL, a line with too many fills ``extra``; both are counted.
V2_FIELDS = (
    "version",
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log_status",
)
GLOB_CHARS = set("*?[]{}")


def discover_files(paths: Iterable[Path]) -> list[Path]:
    """Files given directly, and every non-hidden, non-empty file under the folders given (recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FlowInputError(f"{path}: no such file or folder")
    files = [p for p in dict.fromkeys(found) if p.stat().st_size > 0]
    for file in files:
        if GLOB_CHARS & set(str(file)):
            # DuckDB expands glob characters in file lists: refuse rather than read something else.
            raise FlowInputError(
                f"{file}: file names with glob characters ({''.join(sorted(GLOB_CHARS))}) "
                "are not supported; rename the file"
            )
    return files


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_csv_sql(files: list[Path]) -> str:
    """A lenient read: every field as text (typed later with TRY_CAST, so bad values are counted, not
    fatal), space separated, no quoting, headers kept as rows (recognised and counted later), so a file
    without a header loses nothing. Compression follows each file's extension (.gz)."""
    file_list = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in (*V2_FIELDS, "extra")) + "}"
    return (
        f"read_csv({file_list}, delim=' ', header=false, columns={columns}, auto_detect=false, "
        "quote='', escape='', null_padding=true, strict_mode=false, ignore_errors=true, "
        "max_line_size=65536, compression='auto', filename=false)"
    )
