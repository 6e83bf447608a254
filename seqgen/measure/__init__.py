"""Measuring models and data: loss, bits per token and sample scores (`evaluate`), speed and memory
(`bench`), and the pictures of both (`plots`). Reads checkpoints and datasets; trains nothing."""
