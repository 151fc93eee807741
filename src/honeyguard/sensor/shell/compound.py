"""for / while / until / if / case: the compound commands of dropper scripts, run by the emulator.

A ``for`` runs its body once per word (capped); ``while`` and ``until`` run their body at most
once when the condition holds (a bot's ``while true; do ...; sleep 60; done`` must not spin the
sensor); ``if`` picks its branch from the condition's status; ``case`` runs nothing. Every body
goes back through the interpreter, so downloads inside loops are recorded like any others. The
parts are found by one linear scan of the reserved words (parse.compound_words), never by a
backtracking regular expression over attacker text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from honeyguard.sensor.shell.parse import Word, compound_words, tokenize

if TYPE_CHECKING:
    from honeyguard.sensor.shell.interpreter import Shell

MAX_ITERATIONS = 32
_FOR_HEAD = re.compile(r"for\s+([A-Za-z_][A-Za-z0-9_]{0,63})\b")


def run_compound(shell: Shell, text: str) -> str:
    """Run the compound command ``text`` (as parse.compound_end delimited it); its output."""
    keywords = [(word, start, end) for word, start, end, depth in compound_words(text, 0) if depth <= 1]
    opener = keywords[0][0] if keywords else ""
    if opener == "for":
        return _run_for(shell, text, keywords)
    if opener in ("while", "until"):
        return _run_loop(shell, text, keywords)
    if opener == "if":
        return _run_if(shell, text, keywords)
    shell.last_status = 0  # case ... esac: not emulated
    return ""


def _find(keywords: list[tuple[str, int, int]], name: str) -> tuple[str, int, int] | None:
    return next((k for k in keywords[1:] if k[0] == name), None)


def _run_for(shell: Shell, text: str, keywords: list[tuple[str, int, int]]) -> str:
    head, do, done = _FOR_HEAD.match(text), _find(keywords, "do"), keywords[-1]
    if head is None or do is None or done[0] != "done":
        return _syntax_error(shell, "do")
    name = head.group(1)
    words_text = text[head.end(): do[1]].strip().rstrip(";").strip()
    if words_text.startswith("in"):
        words_text = words_text[2:]
    values: list[str] = []
    for token in tokenize(words_text):
        if isinstance(token, tuple):
            values.extend(_split_unquoted(shell, token))
        if len(values) >= MAX_ITERATIONS:
            break
    body = text[do[2]: done[1]]
    out: list[str] = []
    shell.last_status = 0
    for value in values[:MAX_ITERATIONS]:
        shell.env[name] = value
        out.append(shell.run_script(body))
    return "".join(out)


def _split_unquoted(shell: Shell, word: Word) -> list[str]:
    value = shell.expand(word)
    expanded = any(kind != "lit" for kind, _ in word)
    return value.split() if expanded else [value]


def _run_loop(shell: Shell, text: str, keywords: list[tuple[str, int, int]]) -> str:
    do, done = _find(keywords, "do"), keywords[-1]
    if do is None or done[0] != "done":
        return _syntax_error(shell, "done")
    kind = keywords[0][0]
    out = [shell.run_script(text[keywords[0][2]: do[1]])]
    if (shell.last_status == 0) == (kind == "while"):
        out.append(shell.run_script(text[do[2]: done[1]]))
    shell.last_status = 0
    return "".join(out)


def _run_if(shell: Shell, text: str, keywords: list[tuple[str, int, int]]) -> str:
    then, fi = _find(keywords, "then"), keywords[-1]
    if then is None or fi[0] != "fi":
        return _syntax_error(shell, "fi")
    branch_end = next((k for k in keywords if k[0] in ("else", "elif") and k[1] > then[1]), fi)
    out = [shell.run_script(text[keywords[0][2]: then[1]])]
    if shell.last_status == 0:
        out.append(shell.run_script(text[then[2]: branch_end[1]]))
    elif branch_end[0] == "else":
        out.append(shell.run_script(text[branch_end[2]: fi[1]]))
    elif branch_end[0] == "elif":
        out.append(run_compound(shell, "if" + text[branch_end[2]:]))
    else:
        shell.last_status = 0
    return "".join(out)


def _syntax_error(shell: Shell, token: str) -> str:
    shell.last_status = 2
    return f"{shell.error_prefix}: syntax error near unexpected token `{token}'\n"
