"""Measuring models and data: a model's loss, bits per token and perplexity (`evaluate`), generated
music scored as a listener would (`samples`), what a checkpoint or dataset holds (`info`), speed
and memory (`bench`, run by `suite`), and the pictures (`plots`). Reads checkpoints and datasets;
trains nothing."""
