"""Command 1 of the README installs nothing GPU-sized: its dependency set, read from
pyproject.toml and followed through the installed packages' own metadata, has no PyTorch,
vLLM or CUDA wheel; and without PyTorch `prove` names what to install for this machine."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from tests.conftest import standin_command

ROOT = Path(__file__).parent.parent
GPU_SIZED = re.compile(r"^(torch|vllm|nvidia-.*|triton)$")


def command_1() -> list[str]:
    """The `pip install` of the README's first command, as argv."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    line = next(line for line in block.splitlines() if line.startswith("pip install"))
    return shlex.split(line.split("&&", 1)[0])


def project_requirements(target: str) -> list[Requirement]:
    """What ``pip install -e TARGET`` asks for: the base dependencies and the extras named."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    match = re.fullmatch(r"\.(?:\[(.*)\])?", target)
    assert match, f"command 1 installs {target!r}, not this checkout"
    extras = [e.strip() for e in (match.group(1) or "").split(",") if e.strip()]
    wanted = project["dependencies"] + [
        r for e in extras for r in project["optional-dependencies"][e]
    ]
    return [Requirement(r) for r in wanted]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution those pull in, through the installed packages' metadata (their
    extras' requirements apart: pip takes them only when asked)."""
    environment = default_environment()
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            declared = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: its own name is what is checked
        for text in declared:
            dependency = Requirement(text)
            if dependency.marker is None or dependency.marker.evaluate(
                {**environment, "extra": ""}
            ):
                todo.append(dependency)
    return seen


def test_command_1_installs_no_gpu_sized_package() -> None:
    argv = command_1()
    assert argv[:3] == ["pip", "install", "-e"], argv
    pulled = closure(project_requirements(argv[3]))
    assert "transformers" in pulled and "openai" in pulled, "the closure was followed"
    assert not {p for p in pulled if GPU_SIZED.match(p)}, sorted(pulled)


def test_command_1_brings_what_renders_a_prompt() -> None:
    # every prompt is the tokenizer's chat template (transformers' apply_chat_template), which
    # needs jinja2: transformers lists it only under an extra, so pip takes it only if asked
    pulled = closure(project_requirements(command_1()[3]))
    assert "jinja2" in pulled, sorted(pulled)


def test_the_extras_that_run_a_model_here_bring_torch() -> None:
    for extra in ("hf", "gpu", "train"):
        names = {canonicalize_name(r.name) for r in project_requirements(f".[{extra}]")}
        assert "torch" in names, extra


@pytest.mark.parametrize(("gpu", "advice"), [(False, "'.[hf]'"), (True, "'.[gpu]'")])
def test_prove_without_torch_names_what_to_install_for_this_machine(
    gpu: bool, advice: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stepprover.cli import app
    from stepprover.models import loader

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        loader.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "vllm") else real_find_spec(name, *a),
    )
    monkeypatch.setattr(loader, "_gpu_present", lambda: gpu)
    model = tmp_path / "model"
    model.mkdir()
    result = CliRunner().invoke(
        app,
        ["prove", "--model", str(model), "--minif2f", "mathd_algebra_10",
         "--repl", shlex.join(standin_command())],
    )  # fmt: skip
    said = " ".join(result.output.split())
    assert result.exit_code == 3, said
    assert "needs PyTorch, which the base install leaves out" in said and advice in said, said
    assert "Traceback" not in said


def test_the_base_install_does_not_say_models_are_unavailable(
    tmp_path: Path, tokenizer: Any
) -> None:
    # without PyTorch transformers says at import "Models won't be available": the base
    # install's scripted and served models run, and stepprover names PyTorch where needed
    tokenizer.save_pretrained(tmp_path / "tiny")
    (tmp_path / "turns.json").write_text(json.dumps(["```lean4\ntheorem x : True := trivial\n```"]))
    argv = ["stepprover", "prove", "--model", str(tmp_path / "turns.json"), "--backend",
            "scripted", "--tokenizer", str(tmp_path / "tiny"), "--minif2f", "mathd_algebra_10",
            "--repl", shlex.join(standin_command())]  # fmt: skip
    no_torch = f"import sys; sys.modules['torch'] = None; sys.argv = {argv!r}; "
    run = subprocess.run(
        [sys.executable, "-c", no_torch + "from stepprover.cli import app; app()"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert "mathd_algebra_10: " in run.stdout, (run.stdout, run.stderr)  # the run was made
    assert "PyTorch was not found" not in run.stderr, run.stderr
