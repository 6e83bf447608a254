"""Corpora: finding and reading the user's sources (text files, ABC tunebooks, MIDI files, the
built-in music21 folk corpus) into documents. Knows nothing about token ids or models."""
