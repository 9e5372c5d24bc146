"""Choosing and building a backend, with clear errors when a model cannot be had here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from stepprover.errors import ModelServerUnsupported, ModelUnavailable
from stepprover.models.base import Generator
from stepprover.models.openai_compat import PromptMode

Backend = Literal["auto", "vllm", "openai", "transformers", "scripted"]


def resolve_backend(
    backend: Backend, base_url: str | None
) -> Literal["vllm", "openai", "transformers", "scripted"]:
    """The backend to use; ``auto`` needs a server URL or a CUDA GPU."""
    if backend != "auto":
        return backend
    if base_url:
        return "openai"
    if importlib.util.find_spec("torch") is None:
        raise ModelUnavailable(_no_torch())
    if _vllm_usable():
        return "vllm"
    if _cuda_available():
        return "transformers"
    raise ModelUnavailable(
        "no CUDA GPU found (and no --base-url). Run on a GPU machine with "
        "`pip install -e '.[gpu]'` in the stepprover checkout, point --base-url at a served "
        "model, or pass --backend transformers to run on this CPU (practical only for small "
        "models)."
    )


def _no_torch() -> str:
    """What to install for a model to run here, said for this machine."""
    where = (
        "this machine has an NVIDIA GPU: `pip install -e '.[gpu]'` (vLLM and PyTorch)"
        if _gpu_present()
        else "no GPU found here: `pip install -e '.[hf]'` runs small models on this CPU "
        "(PyPI's torch is the CUDA build, several GB)"
    )
    return (
        "running the model on this machine needs PyTorch, which the base install leaves out; "
        f"{where}; or serve the model elsewhere and pass --base-url"
    )


def _gpu_present() -> bool:
    """An NVIDIA GPU with its driver loaded, found without PyTorch."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _vllm_usable() -> bool:
    return importlib.util.find_spec("vllm") is not None and _cuda_available()


def check_model_available(model: str, *, servable: bool = True, weights: bool = False) -> None:
    """Raise ``ModelUnavailable`` unless ``model`` is a local folder or in the HF cache.

    Checked before anything loads, so that a machine without the weights stops
    at once with instructions instead of failing deep inside a download. ``servable``:
    the caller can use a served model instead (``--base-url``); training cannot.
    ``weights``: the caller loads the model itself, so a local folder must hold one (a
    tokenizer folder, as `python -m tests.fakes.tiny_model` writes without PyTorch, does not).
    """
    if Path(model).is_dir():
        if weights and not (Path(model) / "config.json").is_file():
            raise ModelUnavailable(
                f"model folder {model} holds no config.json: a tokenizer without a model"
            )
        return
    if _looks_like_a_path(model):
        raise ModelUnavailable(f"model folder {model} does not exist")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError as exc:
        raise ModelUnavailable(
            f"model {model!r} is not a local folder and huggingface_hub is not installed"
        ) from exc
    try:
        cached = try_to_load_from_cache(model, "config.json")
    except ValueError as exc:  # HFValidationError: not a Hub name either
        raise ModelUnavailable(
            f"model {model!r} is neither a local folder nor a Hugging Face name (ORG/NAME)"
        ) from exc
    if isinstance(cached, str):
        return
    raise ModelUnavailable(
        f"model {model!r} is not on this machine (no local folder, not in the Hugging Face "
        f"cache). Download it where the Hub is reachable (`hf download {model}`) and copy "
        "the cache here"
        + (
            ", pass a local folder, or serve it elsewhere and pass --base-url."
            if servable
            else ", or give a local folder."
        )
    )


def model_problems(
    model: str, backend: Backend = "auto", base_url: str | None = None, tokenizer: str | None = None
) -> list[str]:
    """Every reason ``load_generator`` would stop here (weights not on this machine, no GPU
    for ``auto``), each one message, found without loading anything, so that a newcomer
    learns all of them at once."""
    if backend == "scripted":
        return []
    problems = []
    for check in (
        lambda: check_model_available(tokenizer or model),
        lambda: resolve_backend(backend, base_url),
        lambda: _torch_for(backend),
    ):
        try:
            check()
        except ModelUnavailable as exc:
            problems.append(str(exc))
    return problems


def names_a_missing_folder(model: str, tokenizer: str | None = None) -> bool:
    """The model or tokenizer given is a path to a folder that does not exist: input that
    cannot be used, not something this machine lacks."""
    return any(
        _looks_like_a_path(name) and not Path(name).is_dir()
        for name in (model, tokenizer)
        if name is not None
    )


def _torch_for(backend: Backend) -> None:
    """A backend that runs the model in this process needs PyTorch (``auto`` says so itself)."""
    if backend in ("transformers", "vllm") and importlib.util.find_spec("torch") is None:
        raise ModelUnavailable(_no_torch())


def _looks_like_a_path(model: str) -> bool:
    """A Hub name is ``NAME`` or ``ORG/NAME``; anything else with a slash is a folder."""
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or Path(model).exists()


def load_generator(
    model: str,
    *,
    backend: Backend = "auto",
    base_url: str | None = None,
    tokenizer: str | None = None,
    max_concurrency: int = 64,
    server_prompt: PromptMode = "auto",
) -> Generator:
    """Build the generator for ``model`` (a local folder or a Hub name; for the
    scripted backend, a JSON list of turns replayed by ``ScriptedGenerator.replaying``).
    ``server_prompt`` is the openai backend's prompt mode (``OpenAICompatGenerator``)."""
    if backend == "scripted":
        return _scripted(model, tokenizer)
    try:
        return _load(model, backend, base_url, tokenizer, max_concurrency, server_prompt)
    except (OSError, ValueError) as exc:  # a folder that holds no model or tokenizer
        raise ModelUnavailable(f"cannot load the model {model}: {_first_line(exc)}") from exc


def _load(
    model: str,
    backend: Backend,
    base_url: str | None,
    tokenizer: str | None,
    max_concurrency: int,
    server_prompt: PromptMode,
) -> Generator:
    check_model_available(tokenizer or model)
    chosen = resolve_backend(backend, base_url)
    if chosen == "openai":
        if not base_url:
            raise ModelUnavailable(
                "the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)"
            )
        from stepprover.models.openai_compat import OpenAICompatGenerator

        try:
            return OpenAICompatGenerator(
                base_url, model, _tokenizer(tokenizer or model),
                max_concurrency=max_concurrency, prompt_mode=server_prompt,
            )  # fmt: skip
        except ModelServerUnsupported as exc:
            raise ModelUnavailable(str(exc)) from exc
    check_model_available(model)
    if importlib.util.find_spec("torch") is None:
        raise ModelUnavailable(_no_torch())
    if chosen == "vllm":
        if not _vllm_usable():
            raise ModelUnavailable(
                "the vllm backend needs `pip install -e '.[gpu]'` and a CUDA GPU; "
                "use --backend transformers (small models on CPU) or --base-url for a server"
            )
        from stepprover.models.vllm_engine import VLLMGenerator

        return VLLMGenerator.from_model(model)
    from stepprover.models.transformers_local import TransformersGenerator

    return TransformersGenerator.from_pretrained(model)


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load a tokenizer from {path}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _scripted(turns_file: str, tokenizer: str | None) -> Generator:
    import json

    from stepprover.models.scripted import ScriptedGenerator

    if tokenizer is None:
        raise ModelUnavailable("the scripted backend needs --tokenizer (a tokenizer folder)")
    check_model_available(tokenizer)
    try:
        turns = json.loads(Path(turns_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read the scripted turns {turns_file}: {exc}") from exc
    if not (isinstance(turns, list) and turns and all(isinstance(t, str) for t in turns)):
        raise ModelUnavailable(f"{turns_file} must hold a JSON list of turn texts")
    return ScriptedGenerator.replaying(_tokenizer(tokenizer), turns)
