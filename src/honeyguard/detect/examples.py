"""Run every rule's own examples: a positive must match its rule, a negative must not."""

from __future__ import annotations

from dataclasses import dataclass

from honeyguard.detect.engine import Engine, Ruleset
from honeyguard.detect.fields import (
    Subject,
    http_subject,
    raw_http_subject,
    redis_subject,
    ssh_command_subject,
    ssh_login_subject,
    text_bytes,
)
from honeyguard.detect.rules import Example, Rule


@dataclass(frozen=True)
class ExampleFailure:
    rule: str
    kind: str  # positive | negative
    index: int
    file: str
    line: int | None
    backend: str
    matched: tuple[str, ...]

    def __str__(self) -> str:
        verb = "did not match" if self.kind == "positive" else "matched"
        return (f"{self.file}:{self.line}: {self.rule}: {self.kind} example #{self.index + 1} {verb} "
                f"({self.backend} engine)")


def example_subject(example: Example) -> Subject:
    """The subject an example stands for."""
    if example.raw is not None:
        return raw_http_subject(text_bytes(example.raw))
    if example.http is not None:
        http = example.http
        headers = [(text_bytes(k), text_bytes(str(v))) for k, v in http.headers.items()]
        body = text_bytes(http.body)
        if body and not any(k.lower() == "content-length" for k in http.headers):
            headers.append((b"Content-Length", str(len(body)).encode()))
        return http_subject(text_bytes(http.method), text_bytes(http.target), text_bytes(http.version),
                            headers, body)
    if example.redis is not None:
        return redis_subject([text_bytes(arg) for arg in example.redis.args])
    assert example.ssh is not None
    ssh = example.ssh
    if ssh.command is not None:
        return ssh_command_subject(text_bytes(ssh.command))
    return ssh_login_subject(text_bytes(ssh.username or ""), text_bytes(ssh.password or ""))


def run_examples(ruleset: Ruleset, engines: list[Engine],
                 rules: list[Rule] | None = None) -> tuple[int, list[ExampleFailure]]:
    """(number of example checks, failures) for ``rules`` (default all) on every engine."""
    checks = 0
    failures: list[ExampleFailure] = []
    for rule in rules if rules is not None else ruleset.rules:
        for kind, examples, lines in (("positive", rule.spec.examples.positive, rule.example_lines[0]),
                                      ("negative", rule.spec.examples.negative, rule.example_lines[1])):
            for index, example in enumerate(examples):
                subject = example_subject(example)
                for engine in engines:
                    checks += 1
                    matched = engine.match(subject).rules
                    if (rule.id in matched) != (kind == "positive"):
                        failures.append(ExampleFailure(rule.id, kind, index, rule.where.file, lines[index],
                                                       engine.backend, matched))
    return checks, failures
