"""Run configurations for `stepprover train sft|grpo CONFIG` (YAML), validated on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stepprover.agent.loop import LoopConfig
from stepprover.data.problems import read_limited
from stepprover.errors import DataError, TrainConfigError
from stepprover.models.base import SamplingParams


def trl_args(kind: Any, **arguments: Any) -> Any:
    """TRL's config object; its refusals (bf16 without a GPU, unknown keys) as our error."""
    try:
        return kind(**arguments)
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f"TRL refused the `trl` settings: {exc}") from exc


class LeanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    """The verification service (`stepprover serve`); else local REPLs."""
    api_key: str | None = None
    repl: str | None = None
    """REPL command line; default: the Lean from `stepprover lean setup`."""
    workers: int | None = None
    """REPL workers of the local pool (per node with ``ray``)."""
    sandbox: bool = False
    ray: str | None = None
    """A Ray cluster address ("auto") to spread the REPL pool over its nodes."""
    cache: bool | None = None
    """The verdict cache (one Lean check per distinct proof); default: on with the installed
    Lean, off with ``repl``. With ``url`` the service keeps its own."""
    cache_dir: str | None = None
    """Folder of the verdict cache; default ``~/.cache/stepprover``."""


class LoopSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_context_tokens: int = 20480
    max_tokens_per_call: int = 16384
    max_repl_calls: int | None = None
    sketch_timeout: float = 60.0
    final_timeout: float = 300.0
    temperature: float = 1.0
    top_p: float = 1.0

    def build(self) -> LoopConfig:
        return LoopConfig(
            max_context_tokens=self.max_context_tokens,
            max_tokens_per_call=self.max_tokens_per_call,
            max_repl_calls=self.max_repl_calls, sketch_timeout=self.sketch_timeout,
            final_timeout=self.final_timeout,
            sampling=SamplingParams(temperature=self.temperature, top_p=self.top_p),
        )  # fmt: skip


def check_one_sampling(trl: dict[str, Any], loop: LoopSettings, where: str) -> None:
    """TRL divides the logits by its temperature when it computes the policy's logprobs;
    rollouts sampled at another temperature would be trained on the wrong distribution."""
    for key in ("temperature", "top_p"):
        if key in trl and trl[key] != getattr(loop, key):
            raise ValueError(
                f"{where}.{key} ({trl[key]}) differs from loop.{key} "
                f"({getattr(loop, key)}): set it once, under `loop`"
            )


def check_vllm_rollout_args(args: Any, max_context_tokens: int) -> None:
    """Refuse the TRL vLLM settings our rollouts cannot honour, before a GPU is touched."""
    if not getattr(args, "use_vllm", False):
        return
    model_length = args.vllm_max_model_length if args.vllm_mode == "colocate" else None
    if model_length is not None and model_length < max_context_tokens:
        raise TrainConfigError(
            f"vllm_max_model_length ({model_length}) is shorter than loop.max_context_tokens "
            f"({max_context_tokens}): every long trajectory would fail in vLLM"
        )
    if args.vllm_mode == "colocate" and args.vllm_tensor_parallel_size > 1:
        raise TrainConfigError(
            "colocated vLLM with tensor parallelism needs every rank of a group to send identical "
            "batches, which multi-turn rollouts cannot promise; serve the model with "
            "`trl vllm-serve --tensor-parallel-size N` and set `vllm_mode: server`"
        )
    if args.vllm_mode == "colocate" and args.vllm_enable_sleep_mode:
        raise TrainConfigError(
            "`vllm_enable_sleep_mode` is not supported with tool-integrated rollouts (vLLM must "
            "stay awake while trajectories wait for Lean); lower `vllm_gpu_memory_utilization` "
            "instead"
        )


def check_completion_length(args: Any, max_context_tokens: int) -> None:
    """A trajectory longer than ``max_completion_length`` is cut and earns nothing; TRL's
    default (512) under a 20480-token loop would silently zero every long trajectory."""
    if args.max_completion_length is None or args.max_completion_length < max_context_tokens:
        raise TrainConfigError(
            f"trl.max_completion_length ({args.max_completion_length}) is below "
            f"loop.max_context_tokens ({max_context_tokens}): trajectories longer than it would "
            "be cut and rewarded 0; set "
            f"max_completion_length: {max_context_tokens} under `trl`"
        )


class SFTRunConfig(BaseModel):
    """SFT on verified trajectories and plain whole proofs."""

    model_config = ConfigDict(extra="forbid")

    status: str = "not yet run"
    """Whether this config has produced a model."""
    model: str
    trajectories: list[str] = Field(default_factory=list)
    """Eval run folders or trajectory JSONL files."""
    whole_proofs: list[str] = Field(default_factory=list)
    """JSONL files of {name, header, formal_statement, proof}."""
    max_tokens: int = 20480
    output_dir: str
    trl: dict[str, Any] = Field(default_factory=dict)
    """SFTConfig arguments (TRL)."""

    def trl_config(self, **overrides: Any) -> Any:
        from trl import SFTConfig

        return trl_args(SFTConfig, output_dir=self.output_dir, **{**self.trl, **overrides})


class GRPORunConfig(BaseModel):
    """Tool-integrated GRPO."""

    model_config = ConfigDict(extra="forbid")

    status: str = "not yet run"
    """Whether this config has produced a model."""
    model: str
    prompts: str
    """A JSONL of problems or a Hugging Face dataset name."""
    curriculum: str | None = None
    """A file of problem names (pass rate strictly between 0 and 1) to keep."""
    output_dir: str
    lean: LeanSettings = Field(default_factory=LeanSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    trl: dict[str, Any] = Field(default_factory=dict)
    """GRPOConfig arguments (TRL). ``temperature`` and ``top_p`` come from ``loop``."""

    @model_validator(mode="after")
    def _one_temperature(self) -> GRPORunConfig:
        check_one_sampling(self.trl, self.loop, "trl")
        return self

    def trl_config(self, **overrides: Any) -> Any:
        from trl import GRPOConfig

        sampling = {"temperature": self.loop.temperature, "top_p": self.loop.top_p}
        args = trl_args(
            GRPOConfig, output_dir=self.output_dir, **{**self.trl, **sampling, **overrides}
        )
        check_vllm_rollout_args(args, self.loop.max_context_tokens)
        check_completion_length(args, self.loop.max_context_tokens)
        return args


CONFIG_FILE_LIMIT = 1_000_000
"""Bytes read at most from a config file."""


def load_config(path: Path | str, kind: type[BaseModel]) -> Any:
    try:
        text = read_limited(path, CONFIG_FILE_LIMIT, "a config file").decode("utf-8")
        return kind.model_validate(yaml.safe_load(text))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError, DataError) as exc:
        raise TrainConfigError(f"{path}: {exc}") from exc


class CycleEval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: int = 8
    concurrency: int = 64
    backend: str = "auto"
    """Model backend for the eval stage (auto, vllm, transformers, openai)."""


class CycleRunConfig(BaseModel):
    """RL→SFT→RL: eval, SFT on the hardest solved problems' trajectories, then GRPO, repeated."""

    model_config = ConfigDict(extra="forbid")

    status: str = "not yet run"
    """Whether this config has produced a model."""
    model: str
    prompts: str
    output_dir: str
    iterations: int = Field(1, ge=1)
    hardest_fraction: float = Field(0.5, gt=0, le=1)
    """Of the problems with at least one verified sample, the lowest pass rates kept for SFT."""
    eval: CycleEval = Field(default_factory=CycleEval)
    lean: LeanSettings = Field(default_factory=LeanSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    sft_trl: dict[str, Any] = Field(default_factory=dict)
    grpo_trl: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_temperature(self) -> CycleRunConfig:
        check_one_sampling(self.grpo_trl, self.loop, "grpo_trl")
        return self

    def sft_config(self, model: str, trajectories: list[str], output_dir: Path) -> SFTRunConfig:
        return SFTRunConfig(
            model=model,
            trajectories=trajectories,
            output_dir=str(output_dir),
            trl=self.sft_trl,
            max_tokens=self.loop.max_context_tokens,
        )

    def grpo_config(self, model: str, curriculum: Path, output_dir: Path) -> GRPORunConfig:
        return GRPORunConfig(
            model=model,
            prompts=self.prompts,
            curriculum=str(curriculum),
            output_dir=str(output_dir),
            lean=self.lean,
            loop=self.loop,
            trl=self.grpo_trl,
        )

    def check_trl(self, **overrides: Any) -> None:
        """Build both stages' TRL configs now, so a bad setting fails before hours of eval."""
        folder = Path(self.output_dir)
        self.sft_config(self.model, [], folder / "sft").trl_config(**overrides)
        self.grpo_config(self.model, folder / "curriculum.txt", folder / "grpo").trl_config(
            **overrides
        )
