"""Write a tiny random-weight Llama model and a tokenizer trained on the spot into one directory.

Run with the Python of a LLaMA Factory venv (it needs torch, transformers and
tokenizers): ``python runtime_model.py OUTPUT_DIR``. Nothing is downloaded: the
tokenizer is a byte-level BPE trained on a few sentences, and the weights are random,
so the model's replies are nonsense, produced fast enough on a CPU.
"""

from __future__ import annotations

import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SENTENCES = [
    "Hello, this is a tiny test model.",
    "The quick brown fox jumps over the lazy dog.",
    "User: hi Assistant: hello",
    "LLaMA Factory serves an OpenAI-compatible API.",
]
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(SENTENCES * 50, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_model(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def main() -> None:
    output = sys.argv[1]
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(output)
    build_model(tokenizer).save_pretrained(output)


if __name__ == "__main__":
    main()
