"""The prefilter's lexer reads text as Lean's tokenizer does, or refuses to decide."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from stepprover.lean.lexer import (
    Kind,
    TokenTable,
    default_table,
    is_ident_rest,
    is_ident_start,
    reading,
    table_for,
    tokenize,
)
from tests.lean.differential import run
from tests.lean.reference_lexer import reference_reading

DATA = Path(__file__).resolve().parent.parent / "data"


def texts(source: str, table: TokenTable | None = None) -> list[tuple[str, str]]:
    return [(t.kind.value, t.text) for t in tokenize(source, table).tokens]


def rules(source: str, table: TokenTable | None = None) -> list[str]:
    return [p.rule for p in tokenize(source, table).problems]


# -- the port: what each branch of tokenFnAux reads -------------------------------------------


def test_times_prime_is_one_token_and_the_quote_after_it_opens_a_string() -> None:
    # core: `infixr:35 " ×' " => PProd`, so Lean reads `×'` and then the string `"'"`
    lexed = tokenize("a ×'\"'\" b")
    assert [(t.kind, t.text) for t in lexed.tokens if t.kind is not Kind.SYMBOL] == [
        (Kind.IDENT, "a"),
        (Kind.STRING, '"\'"'),
        (Kind.IDENT, "b"),
    ]
    assert not lexed.problems and lexed.unterminated is None
    # without that token the same text is a character literal and an unterminated string
    bare = TokenTable(frozenset({"×"}))
    assert ("char", "'\"'") in texts("a ×'\"'\" b", bare)


def test_identifiers_follow_init_meta() -> None:
    assert texts("xⱼ x₁ hᵢ α' f!") == [
        ("ident", "xⱼ"),
        ("ident", "x₁"),
        ("ident", "hᵢ"),
        ("ident", "α'"),
        ("ident", "f!"),
    ]
    assert is_ident_start("ℕ") and is_ident_rest("ⱼ") and not is_ident_start("ⱼ")
    assert not is_ident_start("д") and not is_ident_start("λ") and not is_ident_start("Σ")
    assert texts("a.b.«c d».e x.1") == [
        ("ident", "a.b.«c d».e"),
        ("ident", "x"),
        ("symbol", "."),
        ("number", "1"),
    ]


def test_latin_letters_are_refused_as_undecided() -> None:
    # identifier characters in the stored Init/Meta.lean, whose revision is not v4.20's for sure
    assert rules("théorème") == ["uncertain identifier character"]
    assert rules('-- é in a comment\n"é"') == []


@pytest.mark.parametrize(
    ("source", "numbers"),
    [
        ("1_000 0x_ff 0b1_0 0o17", ["1_000", "0x_ff", "0b1_0", "0o17"]),
        ("2.5e3 1e-2 2. 3.14", ["2.5e3", "1e-2", "2.", "3.14"]),
        ("2r", ["2"]),
    ],
)
def test_numbers(source: str, numbers: list[str]) -> None:
    assert [t for k, t in texts(source) if k == "number"] == numbers


@pytest.mark.parametrize("source", ["1_", "2e", "1.5e+", "0x", "0b2", "1__"])
def test_malformed_numbers_stop_lean_and_are_refused(source: str) -> None:
    assert rules(source) == ["lexical error"]


def test_strings_escapes_and_gaps() -> None:
    assert texts('"a\\"b" "\\x41\\u0042" "gap\\\n   c"') == [
        ("string", '"a\\"b"'),
        ("string", '"\\x41\\u0042"'),
        ("string", '"gap\\\n   c"'),
    ]
    assert rules('"two\\\n\n newlines"') == ["lexical error"]
    assert rules('"bad \\q escape"') == ["lexical error"]
    assert tokenize('"open').unterminated == "string"


def test_char_literals() -> None:
    assert texts("'a' '\\n' '\\x41' '\\'' '\n'") == [
        ("char", "'a'"),
        ("char", "'\\n'"),
        ("char", "'\\x41'"),
        ("char", "'\\''"),
        ("char", "'\n'"),
    ]
    # `\u` takes exactly four hex digits (quotedCharCoreFn): `'\u1F4A5'` misses its end
    assert rules("'\\u1F4A5'") == ["lexical error"]
    assert rules("'ab'") == ["lexical error"]


def test_raw_strings_end_at_their_own_closing() -> None:
    assert texts('r#"a"b"# z r"\\" y') == [
        ("string", 'r#"a"b"#'),
        ("ident", "z"),
        ("string", 'r"\\"'),
        ("ident", "y"),
    ]
    assert texts('2r"x"') == [("number", "2"), ("string", 'r"x"')]


def test_comments_nest_and_the_body_starts_after_the_third_character() -> None:
    assert texts("a /- b /- c -/ d -/ e -- f\ng") == [
        ("ident", "a"),
        ("ident", "e"),
        ("ident", "g"),
    ]
    # `/--/ -/`: the doc comment's body starts at the `/` (Lean's token `/--`, then the body)
    lexed = tokenize("/--/ -/ x")
    assert [t.text for t in lexed.tokens] == ["x"] and lexed.ambiguous == [1]
    assert tokenize("/- open").unterminated == "comment"


def test_name_literals_and_keywords() -> None:
    assert texts("`foo.bar theorem x") == [
        ("symbol", "`"),
        ("ident", "foo.bar"),
        ("ident", "theorem"),
        ("ident", "x"),
    ]
    assert texts("#eval x") == [("hash_command", "#eval"), ("ident", "x")]


def test_tabs_and_carriage_returns_stop_lean() -> None:
    assert rules("a\tb") == ["lexical error"] and rules("a\r\nb") == ["lexical error"]


# -- where the table decides: openers touching a symbol ---------------------------------------


def test_an_opener_touching_a_known_token_is_read() -> None:
    assert rules('(h)-- note\n("s") [a]/- c -/') == []


def test_an_opener_touching_an_unknown_symbol_is_refused() -> None:
    for source in ['⊹"x"', "⊹'x'", "⊹-- c", "⊹/- c -/", "⊹a'"]:
        assert rules(source) == ["ambiguous opener"], source


def test_a_token_running_across_the_opener_makes_it_undecided() -> None:
    # read here as `+)` and a comment; a Lean without `+)` in scope reads `+`, `)-`, `-c`
    table = TokenTable(frozenset({"+", "+)", ")-", "-"}))
    assert rules("+)--c", table) == ["ambiguous opener"]
    assert rules("+) --c", table) == []


def test_a_quote_inside_a_token_needs_a_certainly_active_token() -> None:
    # `∑'` and `⁻¹'` are Mathlib's (unscoped): certain only where all of Mathlib is imported
    assert rules("∑' n, f n") == ["ambiguous opener"]
    assert rules("∑' n, f n", table_for(["Mathlib"])) == []
    assert rules("f ⁻¹' s", table_for(["Mathlib", "Aesop"])) == []
    assert rules("f ⁻¹' s", table_for(["Mathlib.Data.Set.CoeSort"])) == ["ambiguous opener"]


# -- bounds -----------------------------------------------------------------------------------


def test_too_many_tokens_stops_reading() -> None:
    lexed = tokenize("a " * 5000, max_tokens=4096)
    assert [p.rule for p in lexed.problems] == ["too many tokens"]
    assert len(lexed.tokens) <= 4096 + 1


def test_a_passed_deadline_stops_reading() -> None:
    lexed = tokenize("a " * 5000, deadline=time.monotonic() - 1)
    assert [p.rule for p in lexed.problems] == ["time limit"]


def test_overlong_identifier() -> None:
    assert rules(".".join(["a"] * 600)) == ["overlong identifier"]


# -- the two ports agree; the port agrees with recorded Lean behaviour ------------------------


def test_the_lexer_agrees_with_the_reference_port_on_generated_texts() -> None:
    outcome = run(3000, seed=7)
    assert outcome.accepted > 500  # the texts are not all refused
    assert outcome.failures == []


def test_the_reference_port_reads_the_times_prime_case_as_lean() -> None:
    marks, error = reference_reading("a ×'\"'\" b", {"×", "×'"})
    assert error is None and marks == "c ccsss c"
    assert reading("a ×'\"'\" b", tokenize("a ×'\"'\" b")) == marks


def _repl_commands() -> list[tuple[str, dict[str, object]]]:
    """(cmd, response) pairs of the REPL transcripts: requests and what the real REPL said."""
    pairs = []
    for request_file in sorted((DATA / "repl-v4.33.0-rc2").rglob("*.in")):
        out = request_file.with_suffix(".expected.out")
        if not out.exists():
            continue
        # a request spans lines up to a blank one, which the REPL joins without the line
        # breaks (its `line_breaks` test: the positions it answers count only `\n` escapes)
        blocks = request_file.read_text(encoding="utf-8").split("\n\n")
        requests = [json.loads(b.replace("\n", "")) for b in blocks if b.strip()]
        blocks = out.read_text(encoding="utf-8").split("\n\n")
        responses = [json.loads(b, strict=False) for b in blocks if b.strip()]
        for req, resp in zip(requests, responses, strict=False):
            if isinstance(req.get("cmd"), str) and isinstance(resp, dict):
                pairs.append((req["cmd"], resp))
    return pairs


def test_where_the_real_lean_reported_a_message_the_port_reads_code() -> None:
    """A message's position is the start of a syntax node Lean parsed: never inside a comment
    or literal of the port's reading. And a command Lean parsed without error lexes cleanly."""
    pairs = _repl_commands()
    assert len(pairs) > 50
    checked = 0
    for cmd, resp in pairs:
        lexed = tokenize(cmd, table_for(["Mathlib"]))
        messages = [m for m in resp.get("messages", []) if isinstance(m, dict)]
        parse_errors = [m for m in messages if re.match(r"unexpected|expected", str(m["data"]))]
        if not parse_errors:
            assert not [p for p in lexed.problems if p.rule == "lexical error"], cmd
        marks = reading(cmd, lexed)
        lines = cmd.split("\n")
        for m in messages:
            pos = m.get("pos")
            if not isinstance(pos, dict) or m in parse_errors:
                continue
            line, column = int(pos["line"]), int(pos["column"])
            if line - 1 >= len(lines) or column >= len(lines[line - 1]):
                continue
            offset = sum(len(x) + 1 for x in lines[: line - 1]) + column
            assert marks[offset] == "c", (cmd, m)
            checked += 1
    assert checked > 50


def test_default_table_records_its_sources() -> None:
    folder = Path(__file__).resolve().parents[2] / "src/stepprover/lean/data"
    for path in folder.glob("tokens-*.txt"):
        head = path.read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith("# "), path
        if path.name != "tokens-curated.txt":
            assert "commit" in head, path  # extracted at a recorded revision
    table = default_table()
    assert {"×'", "Σ'"} <= table.certain and "∑'" not in table.certain
    assert not any(c.isspace() for t in table.tokens for c in t)
