"""The whole corpus: every planted key found with the right verdict and pairing, nothing else."""

from __future__ import annotations

from pathlib import Path

from honeyguard.creds import Scanner, ScanOptions
from tests.creds.corpus import build


def _scan(root: Path, **options: bool) -> list:  # type: ignore[type-arg]
    result = Scanner(ScanOptions(**options)).scan_paths([str(root)])
    return [hit.finding for hit in result.hits]


def test_corpus_full_recall_and_no_false_positive(tmp_path: Path) -> None:
    corpus = build(tmp_path)
    findings = _scan(tmp_path)
    got = {(str(Path(f.file).relative_to(tmp_path)) if "!" not in f.file
            else f.file.removeprefix(f"{tmp_path}/"), f.key_id) for f in findings}
    want = {(p.file, p.key_id) for p in corpus.planted}
    assert got - want == set(), "false positives"
    assert want - got == set(), "missed keys"
    assert len(findings) == len(corpus.planted), "each planted key reported once"


def test_corpus_verdicts_pairing_and_tokens(tmp_path: Path) -> None:
    corpus = build(tmp_path)
    by_key = {f.key_id: f for f in _scan(tmp_path)}
    for planted in corpus.planted:
        finding = by_key[planted.key_id]
        assert finding.verdict == planted.verdict, planted
        assert finding.secret_paired == planted.paired, planted
        assert finding.session_token == planted.session_token, planted


def test_findings_never_carry_a_secret(tmp_path: Path) -> None:
    corpus = build(tmp_path)
    result = Scanner().scan_paths([str(tmp_path)])
    secrets = [hit.secret for hit in result.hits if hit.secret]
    assert len(secrets) == sum(p.paired for p in corpus.planted)
    for hit in result.hits:
        text = repr(hit.finding)
        assert all(secret not in text for secret in secrets)
        assert hit.finding.key_id_masked in hit.finding.excerpt


def test_notebook_reports_cell_and_line_within_cell(tmp_path: Path) -> None:
    build(tmp_path)
    cells = {(f.cell, f.cell_part, f.line) for f in _scan(tmp_path) if f.file.endswith(".ipynb")}
    assert cells == {(2, "source", 3), (3, "output", 2)}


def test_git_sha_is_not_taken_for_a_secret(tmp_path: Path) -> None:
    build(tmp_path)
    (release,) = [f for f in _scan(tmp_path) if f.file.endswith("release.txt")]
    assert not release.secret_paired


def test_examples_and_resource_ids_only_when_asked(tmp_path: Path) -> None:
    build(tmp_path)
    extra = [f for f in _scan(tmp_path, include_examples=True, include_resource_ids=True)
             if "traps" in f.file]
    examples = {f.key_id for f in extra if f.verdict == "example"}
    assert examples == {"AKIAIOSFODNN7EXAMPLE"}  # AKIAI44QH8DHBEXAMPLE holds an 8: not a key id
    resources = {f.key_id[:4] for f in extra if f.kind == "resource-id"}
    assert resources == {"AIDA", "AROA", "ANPA"}
    assert all(f.severity in ("low", "note") for f in extra)


def test_line_and_column(tmp_path: Path) -> None:
    build(tmp_path)
    (env,) = [f for f in _scan(tmp_path) if f.file.endswith("app/.env")]
    assert (env.line, env.column) == (2, len("AWS_ACCESS_KEY_ID=") + 1)
    (js,) = [f for f in _scan(tmp_path) if f.file.endswith("config.js")]
    assert (js.line, js.column) == (3, len("  accessKeyId: '") + 1)


def test_large_file_is_memory_mapped_and_located(tmp_path: Path) -> None:
    import random

    from honeyguard.creds import ScanLimits
    from tests.creds.keys import account, key_id, secret

    rng = random.Random(21)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    filler = "".join(f"2026-01-01 INFO request {i} served in {i % 97} ms\n" for i in range(60_000))
    (tmp_path / "big.log").write_text(f"{filler}creds {kid} {sec}\n{filler}")
    assert (tmp_path / "big.log").stat().st_size > 4 * 1024 * 1024
    result = Scanner(ScanOptions(), ScanLimits(mmap_from_bytes=1024 * 1024)).scan_paths([str(tmp_path)])
    (hit,) = result.hits
    assert (hit.finding.line, hit.finding.column) == (60_001, len("creds ") + 1)
    assert hit.secret == sec
