"""Reject, before Lean runs, proof text that could fool the checks made after it.

The rules read tokens (see ``lexer``), so words inside comments and strings
never trigger them. Each rule names what it blocks and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepprover.lean.lexer import Kind, Token, tokenize

# Word -> why it is refused. These can define new syntax or elaborators that
# rewrite what `theorem`, `sorry` or `#print axioms` mean, run code at
# elaboration time, or add unproved facts.
FORBIDDEN_WORDS: dict[str, str] = {
    "elab": "defines a custom elaborator",
    "elab_rules": "defines custom elaboration rules",
    "macro": "defines a custom macro",
    "macro_rules": "defines custom macro rules",
    "syntax": "defines custom syntax",
    "declare_syntax_cat": "defines a syntax category",
    "axiom": "declares a new axiom",
    "unsafe": "uses unsafe code",
    "implemented_by": "replaces a definition's code (implemented_by)",
    "extern": "binds a definition to external code (@[extern])",
    "run_cmd": "runs arbitrary code at elaboration time",
    "run_tac": "runs arbitrary code at elaboration time",
    "run_elab": "runs arbitrary code at elaboration time",
    "run_meta": "runs arbitrary code at elaboration time",
    "initialize": "runs code when the environment is loaded",
    "builtin_initialize": "runs code when the environment is loaded",
    "import": "imports after the header",
}

FORBIDDEN_COMMANDS: dict[str, str] = {
    "#exit": "stops elaboration, hiding everything after it",
    "#eval": "runs arbitrary code at elaboration time",
    "#eval!": "runs arbitrary code at elaboration time",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: `{self.rule}` {self.reason}"


def prefilter(body: str) -> list[Finding]:
    """Everything in ``body`` (Lean text after the import block) that is refused."""
    lexed = tokenize(body)
    tokens = lexed.tokens
    findings = [f for i, tok in enumerate(tokens) if (f := _check_token(tokens, i, tok))]
    if lexed.unterminated is not None:
        last_line = body.count("\n") + 1
        findings.append(
            Finding(f"unterminated {lexed.unterminated}", last_line, "would swallow the checks")
        )
    return findings


def _check_token(tokens: list[Token], i: int, tok: Token) -> Finding | None:
    if tok.kind is Kind.IDENT and tok.text in FORBIDDEN_WORDS:
        return Finding(tok.text, tok.line, FORBIDDEN_WORDS[tok.text])
    if tok.kind is Kind.HASH_COMMAND and tok.text in FORBIDDEN_COMMANDS:
        return Finding(tok.text, tok.line, FORBIDDEN_COMMANDS[tok.text])
    if tok.kind is Kind.IDENT and tok.text == "set_option" and i + 1 < len(tokens):
        option = tokens[i + 1].text
        if option == "debug" or option.startswith("debug."):
            return Finding(f"set_option {option}", tok.line, "changes the kernel's checking")
    return None
