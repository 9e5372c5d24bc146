"""A tiny tokenizer and a tiny randomly initialised Qwen2 model, built locally for tests.

The tokenizer is a byte-level BPE trained on a few Lean snippets, with the
StepFun/DeepSeek-R1 special tokens and an R1-style chat template whose
generation prompt ends in ``<think>\\n``. Nothing is downloaded.

A memorised model takes a few hundred training steps, so it is built once and kept on disk
(``tests/.cache``, or ``STEPPROVER_TEST_CACHE``), keyed by a hash of this file, of what it
memorises and of the torch and transformers versions: changing any of them builds it anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("STEPPROVER_TEST_CACHE") or Path(__file__).parents[1] / ".cache")

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
SPECIAL = [BOS, EOS, "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
           "<sketch>", "</sketch>", "<REPL>", "</REPL>"]  # fmt: skip

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)

CORPUS = [
    "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  norm_num",
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat",
    '{"messages": [{"severity": "error", "pos": {"line": 1, "column": 0},'
    ' "data": "unsolved goals"}]}',
    "Let me check this with the REPL. The goal ⊢ x + x = 4 follows from h₀ by linarith.",
    'repl cannot return status in 60.5 seconds! {"repl_err": "crash"}',
] * 4


# Qwen2's pre-tokenizer, so that a saved copy reloads identically as a Qwen2Tokenizer.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_tokenizer() -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def reference_tokenizer(*, add_bos: bool) -> Any:
    """``build_tokenizer()`` with the same ids, as a released StepFun-Prover checkpoint has
    it: every tag token (``<sketch>``, ``<REPL>``, ``<think>``, the role markers) not special,
    so that vLLM's returned text keeps it; BOS and EOS stay special. With ``add_bos`` the
    tokenizer adds BOS when asked for special tokens, as DeepSeek-R1-Distill-Qwen's does.
    These are the two variants of tests/data/stepfun-demo-goldens."""
    import json

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(build_tokenizer().backend_tokenizer.to_str())
    for token in spec["added_tokens"]:
        token["special"] = token["content"] in (BOS, EOS)
    if add_bos:
        spec["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": BOS, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS: {"id": BOS, "ids": [SPECIAL.index(BOS)], "tokens": [BOS]}},
        }  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def build_model(vocab_size: int, seed: int = 0) -> Any:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config).eval()


def memorised_model(tokenizer: Any, text: str, *, seed: int, steps: int = 150) -> Any:
    """A tiny Qwen2 that has memorised ``text`` + EOS (the prompt and the answer it should
    give): a fresh copy, loaded from the cache (built into it first if missing)."""
    import torch
    import transformers
    from transformers import Qwen2ForCausalLM

    ids = [*tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
    recipe = {
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "ids": ids,
        "vocab": len(tokenizer),
        "seed": seed,
        "steps": steps,
        "versions": [torch.__version__, transformers.__version__],
    }
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:32]
    folder = CACHE / "memorised" / key
    if not (folder / "model.safetensors").exists():
        model = build_model(len(tokenizer), seed=seed)
        memorise(model, ids, steps=steps)
        _save_once(model, folder)
    return Qwen2ForCausalLM.from_pretrained(folder).eval()


def _save_once(model: Any, folder: Path) -> None:
    """Save into a private folder, then rename it into place: a concurrent run building the
    same model (two runs may share a checkout) leaves one whole copy, never a torn one."""
    building = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
    model.save_pretrained(building)
    try:
        building.rename(folder)
    except OSError:  # the other run's copy is in place: the same model
        shutil.rmtree(building, ignore_errors=True)


def memorise(model: Any, token_ids: list[int], steps: int = 150, lr: float = 3e-3) -> None:
    """Overfit the model on one sequence so that near-greedy sampling reproduces it."""
    import torch

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    ids = torch.tensor([token_ids])
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.tiny_model --out DIR``: the test tokenizer in DIR, and (with
    PyTorch installed) a tiny random Qwen2 beside it, the model the suite trains. A test
    fixture for trying stepprover without downloads: it proves nothing."""
    import argparse
    import importlib.util
    from pathlib import Path

    parser = argparse.ArgumentParser(
        description=main.__doc__.splitlines()[0] if main.__doc__ else ""
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    out = parser.parse_args(argv).out
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(out)
    if importlib.util.find_spec("torch") is None:
        print(f"{out}: the tokenizer only (no PyTorch here, so no model: pip install -e '.[hf]')")
        return
    build_model(len(tokenizer)).save_pretrained(out)
    print(f"{out}: the tokenizer and a tiny random Qwen2 (a test model: it proves nothing)")


if __name__ == "__main__":
    main()
