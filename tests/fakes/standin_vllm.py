"""A stand-in for TRL's colocated vLLM, for tests (it is not vLLM).

``StandinLLM.generate`` takes what ``vllm.LLM.generate`` takes (token-id prompts and
one sampling-params mapping per prompt), samples with a Hugging Face model and
reports each sampled token's processed logprob in vLLM's ``{token_id: Logprob}``
form. ``StandinVllmGeneration.sync_weights`` copies the trainer's weights in, as
TRL's ``VLLMGeneration.sync_weights`` does before each rollout.
"""

from __future__ import annotations

import copy
import threading
from types import SimpleNamespace
from typing import Any


class StandinLLM:
    def __init__(self, model: Any, pad_token_id: int) -> None:
        self.model = copy.deepcopy(model).eval()
        self.pad_token_id = pad_token_id
        self.batch_sizes: list[int] = []
        self.threads: set[int] = set()

    def generate(
        self,
        prompts: list[dict[str, Any]],
        sampling_params: list[dict[str, Any]],
        use_tqdm: bool = False,
    ) -> list[Any]:
        self.batch_sizes.append(len(prompts))
        self.threads.add(threading.get_ident())
        return [
            self._one(p["prompt_token_ids"], params)
            for p, params in zip(prompts, sampling_params, strict=True)
        ]

    def _one(self, prompt_ids: list[int], params: dict[str, Any]) -> Any:
        import torch

        assert params["logprobs"] == 0 and params["n"] == 1
        with torch.no_grad():
            out = self.model.generate(
                input_ids=torch.tensor([prompt_ids]),
                attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                max_new_tokens=params["max_tokens"],
                do_sample=True,
                temperature=params["temperature"],
                top_p=params["top_p"],
                # vLLM's top_k -1 (TRL's default) samples from every token (0 here); generate's
                # default top_k is 50, which would report logprobs of a truncated distribution
                top_k=0 if params.get("top_k", -1) in (-1, 0, None) else params["top_k"],
                eos_token_id=params["stop_token_ids"],
                pad_token_id=self.pad_token_id,
                output_scores=True,
                return_dict_in_generate=True,
            )
        ids = out.sequences[0, len(prompt_ids) :].tolist()
        stop = next((i for i, t in enumerate(ids) if t in params["stop_token_ids"]), None)
        ids = ids if stop is None else ids[: stop + 1]
        logprobs = [
            {
                token: SimpleNamespace(
                    logprob=float(torch.log_softmax(scores[0].float(), -1)[token]), rank=1
                )
            }
            for token, scores in zip(ids, out.scores, strict=False)
        ]
        return SimpleNamespace(
            prompt_token_ids=prompt_ids, outputs=[SimpleNamespace(token_ids=ids, logprobs=logprobs)]
        )


class StandinVllmGeneration:
    mode = "colocate"

    def __init__(self, trainer_model: Any, pad_token_id: int) -> None:
        self.trainer_model = trainer_model
        self.llm = StandinLLM(trainer_model, pad_token_id)
        self.syncs = 0

    def sync_weights(self) -> None:
        self.llm.model.load_state_dict(self.trainer_model.state_dict())
        self.syncs += 1
