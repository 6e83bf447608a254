"""seqgen: learn to generate music (ABC, MIDI) and text with an LSTM or a causal transformer.

The package follows the data flow
    corpus -> tokenizer -> dataset -> models -> trainer -> checkpoint -> sampler -> writer
with `music` holding the music-domain pieces (notes, MIDI I/O, ABC parsing, the tune check) and
`cli` the thin command-line layer on top.
"""

__version__ = "0.1.0"
