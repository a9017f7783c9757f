"""A small local tokenizer for AIPerf, built from the words of a text file.

AIPerf needs a tokenizer to write its synthetic prompts; its ``builtin`` one downloads
tiktoken's o200k_base file on first use, which a machine without the internet cannot. This
writes a word-level HuggingFace tokenizer (``tokenizer.json``) instead, so ``--tokenizer DIR``
works offline. Run it with AIPerf's Python (it needs ``tokenizers`` and ``transformers``):

    /path/to/aiperf-venv/bin/python bench/aiperf_tokenizer.py README.md /tmp/gi-tokenizer
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast


def build(text: str, target: Path) -> int:
    """Write a tokenizer of ``text``'s words into ``target``; returns its vocabulary size."""
    words = sorted(set(re.findall(r"[a-z]+", text.lower())))
    vocabulary = {"[UNK]": 0, **{word: index + 1 for index, word in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(target)
    return len(vocabulary)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1]).read_text(), Path(sys.argv[2])))
