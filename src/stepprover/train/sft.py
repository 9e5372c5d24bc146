"""SFT on TRL's ``SFTTrainer`` over our own token ids and labels.

The examples are already tokenised (``sft_data``), with labels = -100 on the
prompt and on REPL feedback; TRL's dataset preparation is skipped so nothing
re-tokenises them, and its collator pads ``labels`` with -100.
"""

from __future__ import annotations

from typing import Any

from stepprover.train.sft_data import SFTExample


def sft_dataset(examples: list[SFTExample]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([e.as_row() for e in examples]).remove_columns(["source"])


def build_sft_trainer(
    model: Any,
    tokenizer: Any,
    examples: list[SFTExample],
    args: Any,
    callbacks: list[Any] | None = None,
) -> Any:
    """An ``SFTTrainer`` whose loss sees only model-written tokens."""
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    args.remove_unused_columns = False
    collator = DataCollatorForLanguageModeling(
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=sft_dataset(examples),
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=callbacks,
    )
