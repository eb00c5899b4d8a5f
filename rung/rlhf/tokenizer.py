"""A word-level tokenizer for the review language: every word of the grammar is one token.

Ids: 0 <pad>, 1 <bos>, 2 <eos>, 3 <unk>, then the grammar's words. Saved as words.json (its word list).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from rung.rlhf.data import WORDS

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
WORDS_FILE = "words.json"


class Tokenizer(Protocol):
    """What rung.rlhf needs of a tokenizer: WordTokenizer below, or a Hugging Face one (rung.rlhf.hf).
    `pad_id` must differ from `eos_id`: masks are `ids != pad_id`."""
    pad_id: int
    eos_id: int

    def __len__(self) -> int: ...

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]: ...

    def decode(self, ids) -> str:
        """The text up to the first <eos>, without special tokens."""

    def decode_batch(self, ids) -> list[str]: ...

    def save(self, directory: str | Path) -> None: ...


class WordTokenizer:
    def __init__(self, words: tuple[str, ...] = WORDS):
        self.vocab = [PAD, BOS, EOS, UNK, *words]
        self.ids = {word: i for i, word in enumerate(self.vocab)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]:
        ids = [self.ids.get(word, self.unk_id) for word in text.split()]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        """Words up to the first <eos>, without special tokens."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i > self.unk_id:
                words.append(self.vocab[i])
        return " ".join(words)

    def decode_batch(self, ids) -> list[str]:
        return [self.decode(row) for row in ids]

    def save(self, directory: str | Path) -> None:
        (Path(directory) / WORDS_FILE).write_text(json.dumps({"words": self.vocab[4:]}))

    @classmethod
    def load(cls, directory: str | Path) -> "WordTokenizer":
        return cls(tuple(json.loads((Path(directory) / WORDS_FILE).read_text())["words"]))
