"""The tiny model: a randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained
here in milliseconds. A second architecture that runs the real training and inference code
offline, on a CPU, in seconds (tests, and the inbox benchmark's app)."""

from __future__ import annotations

from pathlib import Path

from model.prompt import SYSTEM_PROMPT
from model.replies import draft_texts
from model.schema import CATEGORIES, MODEL_FIELDS


def build_tiny_model(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [SYSTEM_PROMPT, *draft_texts(), *CATEGORIES, *MODEL_FIELDS,
              "Please cancel my booking BK-12345. My username is tk_2009. Hi Anna, thanks!"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
