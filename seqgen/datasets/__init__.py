"""Stage 1-3 of the pipeline: corpus -> tokenizer -> dataset.

`corpus/` finds and reads the user's sources (text, ABC tunebooks, MIDI files, the built-in folk
corpus); `tokenizers/` turns documents into ids; `kinds/` holds one object per data kind that owns
everything kind-specific, preparing a dataset from sources included; `layout` writes a dataset's
files; `store` opens one; `batches` draws training windows from it. Knows nothing about models,
training or sampling.
"""
