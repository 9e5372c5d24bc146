"""Regenerate ``upstream.json``: the baselines' upstream functions run on realistic inputs.

Not part of the test run (the upstream code is not vendored): it imports the upstream
files from git checkouts at the pinned commits and records their outputs, which
``tests/provers/test_upstream_golden.py`` compares stepprover's reproduction against.

    python tests/provers/golden/make_golden.py \\
        --goedel GIT_DIR_OF_Goedel-LM/Goedel-Prover-V2 \\
        --kimina-rl GIT_DIR_OF_project-numina/kimina-prover-rl \\
        --kimina-server GIT_DIR_OF_project-numina/kimina-lean-server

Sources (repo @ commit: path):
- Goedel-LM/Goedel-Prover-V2 @ 2e9036e: src/utils.py (DeepSeekCoTHandler, InferenceHandler,
  replace_statement_in_proof, get_error_str, load_data_for_correction), src/compile.py (handle)
- project-numina/kimina-prover-rl @ e16b605: recipe/kimina_prover_rl/kimina_prover_rl/reward/
  proof_utils.py (extract_proof_from_text), error_fixing.py (create_tool_message)
- project-numina/kimina-lean-server @ e3bb327: server/split.py (split_snippet)
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from stepprover.data.problems import find_problem, load_minif2f

GOEDEL = "2e9036e118464aa96a8bebaf9f5b9d091aa3585c"
KIMINA_RL = "e16b605e8186614c685875c9b57eb19e841b521a"
KIMINA_SERVER = "e3bb327e9f1a737decf24ecd861662f6a5f3f801"
HERE = Path(__file__).parent

PROBLEM = find_problem(load_minif2f("test"), "mathd_algebra_478")
HEADER = PROBLEM.header
THM = PROBLEM.formal_statement.rstrip()  # "theorem mathd_algebra_478 ... : v = 65 := by"
SIG = THM.removesuffix(" := by")


def _show(git_dir: str, commit: str, path: str, into: Path) -> Path:
    text = subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    target = into / Path(path).name
    target.write_text(text)
    return target


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _function(path: Path, name: str) -> Any:
    """One top-level function of a script that runs at import (compile.py)."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    scope: dict[str, Any] = {}
    # Upstream code, read from git at a pinned commit.
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), scope)
    return scope[name]


class _Tokenizer:
    def apply_chat_template(self, messages: list[dict[str, str]], **_: Any) -> str:
        return json.dumps(messages)


GOEDEL_OUTPUTS = {
    "plan_then_two_blocks": (
        "### Proof plan\nSubstitute.\n```lean4\n"
        + THM
        + "\n  sorry\n```\n### Complete Lean 4 Proof\n"
        "```lean4\n" + THM + "\n  rw [h₁, h₂, h₃]\n  norm_num\n```\n"
    ),
    "lean_fence_without_4": "Plan.\n```lean\n" + THM + "\n  subst h₂\n  linarith\n```",
    "no_newline_before_fence": "Plan.\n```lean4\n" + THM + "\n  nlinarith [h₁]```",
    "no_block": "I could not finish the proof in time.",
    "search_tactic": "```lean4\n" + THM + "\n  exact?\n```",
    "changed_statement_helper_lemma_and_open_in": (
        "```lean4\nlemma helper (x : ℝ) : x = x := by rfl\n\nset_option maxRecDepth 1000 in\n"
        "theorem mathd_algebra_478 (b h v : ℝ) : v = 66 := by -- weaker hypotheses!\n"
        "  open Real in\n  rw [h₁, h₂, h₃]\n  /- a comment -/\n  norm_num\n```"
    ),
    "block_without_theorem": "```lean4\n  rw [h₁, h₂, h₃]\n  norm_num\n```",
    "whole_file_block": "```lean4\n"
    + HEADER
    + PROBLEM.informal_prefix
    + THM
    + "\n  norm_num [h₁, h₂, h₃]\n```",
}

KIMINA_OUTPUTS = {
    "full_file_after_think": (
        "<think>\nSubstitute and compute.\n```tactics\nrw [h₁]\n```\n</think>\n```lean4\n"
        + HEADER
        + THM
        + "\n  rw [h₁, h₂, h₃]\n  norm_num\n```"
    ),
    "lemma_keyword": "<think>x</think>\n```lean4\nimport Mathlib\n\nlemma "
    + THM.removeprefix("theorem ")
    + "\n  norm_num [h₁, h₂, h₃]\n```",
    "by_on_next_line": "<think>x</think>\n```lean4\n"
    + SIG
    + " :=\n  by\n  subst h₂ h₃\n  linarith\n```",
    "double_space_after_keyword": "<think>x</think>\n```lean4\ntheorem  "
    + THM.removeprefix("theorem ")
    + "\n  simp_all\n```",
    "commented_restatement_last": (
        "<think>x</think>\n```lean4\n"
        + THM
        + "\n  norm_num [h₁]\n```\n```lean4\n-- "
        + THM
        + "\n  sorry\n```"
    ),
    "statement_changed": "<think>x</think>\n```lean4\n"
    + THM.replace("v = 65", "v = 1")
    + "\n  simp\n```",
    "reformatted_signature": "<think>x</think>\n```lean4\n"
    + THM.replace("\n    ", " ")
    + "\n  simp\n```",
    "no_block": "<think>out of ideas</think>\nNo proof.",
}

STATEMENTS = [  # extract_first_theorem_statement: theorem, else lemma, else example
    "import Mathlib\n\ntheorem  foo (n : ℕ)\n  (h : 0 < n) :\n    n ≠ 0 := by",
    "import Mathlib\n\nlemma bar : (1 : ℕ) + 1 = 2 := by\n  norm_num",
    "example (a : ℤ) (h : a = 2) : a ^ 2 = 4 := by",
    "def f := 1\n\ntheorem t : f = 1 := rfl",
    "no declaration here",
]

KIMINA_CODE = HEADER.rstrip("\n") + "\n\n" + THM + "\n  rw [h₁, h₂, h₃]\n  nlinarith [foo]"


def _err(
    line: int, col: int, end: tuple[int, int] | None, data: str, severity: str = "error"
) -> dict[str, Any]:
    return {
        "severity": severity,
        "pos": {"line": line, "column": col},
        "endPos": None if end is None else {"line": end[0], "column": end[1]},
        "data": data,
    }


KIMINA_FEEDBACK = {
    # lean_feedback as ReplResponse.model_dump() gives it (body-relative positions)
    "one_error": {
        "id": "0",
        "time": 1.0,
        "error": None,
        "response": {"messages": [_err(8, 13, (8, 16), "unknown identifier 'foo'")], "sorries": []},
    },
    "four_errors_and_a_warning": {
        "id": "0",
        "time": 1.0,
        "error": None,
        "response": {
            "messages": [
                _err(1, 8, None, "unused variable `b`", "warning"),
                _err(7, 2, (7, 17), "rewrite failed\n  pattern"),
                _err(8, 2, (8, 11), "linarith failed"),
                _err(8, 13, (8, 16), "unknown identifier 'foo'"),
                _err(6, 0, None, "fourth"),
            ],
            "sorries": [],
        },
    },
    "sorry_only": {
        "id": "0",
        "time": 1.0,
        "error": None,
        "response": {
            "messages": [_err(1, 8, (1, 25), "declaration uses 'sorry'", "warning")],
            "sorries": [
                {
                    "pos": {"line": 8, "column": 2},
                    "endPos": {"line": 8, "column": 7},
                    "goal": "⊢ v = 65",
                }
            ],
        },
    },
    "timeout": {
        "id": "0",
        "time": 60.0,
        "error": "Lean REPL command timed out in 60 seconds",
        "response": None,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--goedel", required=True)
    parser.add_argument("--kimina-rl", required=True)
    parser.add_argument("--kimina-server", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sys.modules["jload"] = types.SimpleNamespace(  # type: ignore[assignment]
            jload=lambda p: json.loads(Path(p).read_text()), jsave=None
        )
        utils = _module("goedel_utils", _show(args.goedel, GOEDEL, "src/utils.py", root))
        handle = _function(_show(args.goedel, GOEDEL, "src/compile.py", root), "handle")
        reward = "recipe/kimina_prover_rl/kimina_prover_rl/reward/"
        proof_utils = _module(
            "kimina_proof_utils", _show(args.kimina_rl, KIMINA_RL, reward + "proof_utils.py", root)
        )
        fixing = _module(
            "kimina_error_fixing",
            _show(args.kimina_rl, KIMINA_RL, reward + "error_fixing.py", root),
        )
        split = _module(
            "kls_split", _show(args.kimina_server, KIMINA_SERVER, "server/split.py", root)
        )
        golden = {
            "sources": {
                "goedel": f"Goedel-LM/Goedel-Prover-V2@{GOEDEL}",
                "kimina_rl": f"project-numina/kimina-prover-rl@{KIMINA_RL}",
                "kimina_server": f"project-numina/kimina-lean-server@{KIMINA_SERVER}",
            },
            "problem": PROBLEM.name,
            "goedel_pipeline": _goedel_pipeline(utils, handle),
            "deepseek_noncot_pipeline": _noncot_pipeline(utils, handle),
            "goedel_prompts": _goedel_prompts(utils),
            "goedel_corrections": _goedel_corrections(utils, handle),
            "goedel_selection": _goedel_selection(utils, root),
            "kimina_extraction": {
                k: proof_utils.extract_proof_from_text(o, HEADER + PROBLEM.formal_statement)
                for k, o in KIMINA_OUTPUTS.items()
            },
            "kimina_outputs": KIMINA_OUTPUTS,
            "kimina_first_statement": {
                t: proof_utils.extract_first_theorem_statement(t) for t in STATEMENTS
            },
            "kimina_code": KIMINA_CODE,
            "kimina_server_offset": _offset(split.split_snippet, KIMINA_CODE),
            "kimina_feedback": {
                k: {"lean_feedback": f, "tool_message": fixing.create_tool_message(KIMINA_CODE, f)}
                for k, f in KIMINA_FEEDBACK.items()
            },
        }
    (HERE / "upstream.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


def _offset(split_snippet: Any, code: str) -> int:
    _, body = split_snippet(code)
    return len(code.splitlines()) - len(body.splitlines())


def _sorried() -> str:
    lean4_code = HEADER + PROBLEM.informal_prefix + PROBLEM.formal_statement
    return lean4_code.split(":= by")[0] + ":= by sorry"


def _goedel_pipeline(utils: Any, handle: Any) -> dict[str, Any]:
    handler = utils.DeepSeekCoTHandler()
    out = {}
    for key, output in GOEDEL_OUTPUTS.items():
        extracted = handler.extrac_code(output)
        full = (
            "None" if extracted in ("None", None) else handler.problem_check(_sorried(), extracted)
        )
        out[key] = {"output": output, "full_code": full, "compiled": handle(full)}
    return out


def _noncot_pipeline(utils: Any, handle: Any) -> dict[str, Any]:
    handler = utils.InferenceHandler()
    out = {}
    for key in ("whole_file_block", "plan_then_two_blocks", "no_block"):
        full = handler.extrac_code(GOEDEL_OUTPUTS[key])
        out[key] = {"output": GOEDEL_OUTPUTS[key], "full_code": full, "compiled": handle(full)}
    return out


def _goedel_prompts(utils: Any) -> dict[str, str]:
    handler, out = utils.DeepSeekCoTHandler(), {}
    for name in ("mathd_algebra_478", "imo_1984_p6", "amc12a_2021_p3"):
        problem = find_problem(load_minif2f("test"), name)
        lean4_code = problem.header + problem.informal_prefix + problem.formal_statement
        _, messages = handler.prover_inference(
            lean4_code.split(":= by")[0] + ":= by sorry", _Tokenizer()
        )
        out[name] = messages[0]["content"]
    return out


def _goedel_corrections(utils: Any, handle: Any) -> dict[str, Any]:
    """The round-1 user turn for compiled attempts (positions relative to the compiled text)."""
    compiled_error = handle(
        utils.DeepSeekCoTHandler().problem_check(
            _sorried(),
            GOEDEL_OUTPUTS["plan_then_two_blocks"].split("```lean4\n")[-1].split("\n```")[0],
        )
    )
    lines = compiled_error.split("\n")
    norm = next(i for i, line in enumerate(lines) if "norm_num" in line) + 1
    long_code = (
        compiled_error + "\n" + "\n".join(f"  have h{i} : True := trivial" for i in range(12))
    )
    cases = {
        "one_error": (
            compiled_error,
            [_err(norm, 2, (norm, 10), "linarith failed to find a contradiction")],
        ),
        "sorry_only": (compiled_error, []),
        "no_code_placeholder": (
            handle("None"),
            [_err(1, 0, (1, 4), "unexpected identifier; expected command")],
        ),
        "long_span_and_many_errors": (
            long_code,
            [_err(norm, 2, (norm + 9, 5), "unsolved goals")]
            + [_err(norm + k, 0, None, f"error {k}") for k in range(1, 10)],
        ),
    }
    out = {}
    for key, (code, errors) in cases.items():
        error_str = utils.get_error_str(code, errors, True)
        _, messages = utils.DeepSeekCoTHandler().generate_correction_prompt(
            _sorried(),
            [{"role": "user", "content": "PROMPT"}],
            "RAW OUTPUT",
            error_str,
            _Tokenizer(),
            1,
        )
        out[key] = {"compiled": code, "errors": errors, "user_turn": messages[-1]["content"]}
    return out


def _goedel_selection(utils: Any, root: Path) -> dict[str, Any]:
    """Which round-0 attempts load_data_for_correction turns into round-1 samples."""
    ok = {
        "errors": [],
        "sorries": [],
        "warnings": [],
        "pass": True,
        "complete": True,
        "system_errors": None,
    }
    error = {
        **ok,
        "errors": [_err(9, 2, None, "linarith failed")],
        "pass": False,
        "complete": False,
    }
    sorry = {**ok, "sorries": [{"pos": {"line": 9, "column": 2}}], "complete": False}
    timeout = {
        "pass": False,
        "complete": False,
        "system_errors": "TIMEOUT ERROR: Timeout exceeded.",
    }
    attempts = {  # problem -> outcome of each round-0 sample
        "solved_once": ["error", "ok", "error"],
        "mixed_failures": ["error", "sorry", "timeout", "no_code"],
        "all_timeouts": ["timeout", "timeout"],
    }
    results = {"ok": ok, "error": error, "sorry": sorry, "timeout": timeout, "no_code": error}
    inference, compilation = [], []
    for problem, outcomes in attempts.items():
        for g, outcome in enumerate(outcomes):
            pid = f"{problem}_g{g}"
            inference.append(
                {
                    "problem_id": pid,
                    "origin_problem_id": problem,
                    "lean4_code": "x := by sorry",
                    "id_maps": [{"origin_problem_id": problem}, {"generation_id": pid}],
                    "model_output": "out",
                    "messages_history_list": [{"role": "user", "content": "p"}],
                }
            )
            compilation.append(
                {
                    "name": pid,
                    "code": "None" if outcome == "no_code" else "theorem x",
                    "compilation_result": results[outcome],
                }
            )
    (root / "to_inference_codes.json").write_text(json.dumps(inference))
    (root / "code_compilation_repl.json").write_text(json.dumps(compilation))
    new = utils.load_data_for_correction(str(root), 1, 2, "qwen")
    return {"attempts": attempts, "children": [item["problem_id"] for item in new]}


if __name__ == "__main__":
    main()
