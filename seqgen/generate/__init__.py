"""Stage 7-8 of the pipeline: checkpoint -> sampler -> writer.

`sampler` draws token ids from a model (KV cache, sliding window, retries); `writer` turns ids into
files; `audio` renders MIDI to WAV; `pipeline` is the one sample -> render -> check -> write path
used by `seqgen sample` and `seqgen compare`. Knows nothing about training.
"""
