"""Music-domain building blocks shared by the pipeline stages.

Owns: the `Note` record, MIDI file I/O through mido, ABC -> notes through music21, and the
playability check for generated tunes. Knows nothing about tokens, models or training.
"""
