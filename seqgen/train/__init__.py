"""Stage 5-6 of the pipeline: model + dataset -> trainer -> checkpoint.

`trainer` runs the step and evaluation loop and asks its owners the rest: `runner` (the model as
trained: DDP, compile, loss), `optim` (AdamW and the schedule), `evaluation` (the fixed eval
windows), `policy` (when to stop and when to save), `rundir` (the run directory: lock, config,
metrics), `checkpoint` (the only code that writes and reads checkpoint files), `resume` and
`plan` (continuing a run, planning a new one), `runstate` (counters, random streams, signals),
`distributed` (the torchrun process group) and `events` (what the trainer reports). Knows nothing
about sampling or the command line.
"""
