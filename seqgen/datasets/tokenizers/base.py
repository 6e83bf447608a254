"""The tokenizer contract: what every tokenizer offers, whatever a document is.

Owns: the `Tokenizer` protocol that `CharTokenizer` (a document is a string) and `EventTokenizer`
(a document is a list of notes) both implement, so code that only moves ids around (the dataset
writer, the sampler, the checkpoint) is typed without knowing which one it holds. Does not own any
vocabulary: what is kind-specific (unknown characters, MIDI drums) is asked of the concrete class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

Doc = TypeVar("Doc")


class Tokenizer(Protocol[Doc]):
    """Documents of type `Doc` <-> token ids.

    `eos_id` is the end-of-document id (also the context a sample starts from), None for plain
    text; `to_dict()` holds plain JSON types only, so it is safe in metadata files and in
    `torch.load(weights_only=True)` checkpoints, and `tokenizer_from_dict` rebuilds it.
    """

    @property
    def kind(self) -> str:
        """The tokenizer's name in `to_dict()`: 'char' or 'midi-event'."""
        ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def eos_id(self) -> int | None: ...

    def encode(self, doc: Doc, /) -> list[int]: ...

    def decode(self, ids: Sequence[int], /) -> Doc: ...

    def document_start(self) -> list[int]:
        """The ids a sample starts from when no prompt is given."""
        ...

    def summary(self) -> str:
        """One line for `seqgen info`: what a token is, and the vocabulary size."""
        ...

    def to_dict(self) -> dict[str, Any]: ...
