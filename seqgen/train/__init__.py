"""Stage 5-6 of the pipeline: model + dataset -> trainer -> checkpoint.

`trainer` runs the step and evaluation loop; `optim` is the optimizer and schedule; `rundir` owns a
run directory (creation, lock, config and metrics files); `checkpoint` alone writes and reads the
checkpoint payload; `runstate` holds counters, random streams and stop signals; `distributed` the
torchrun process group. Knows nothing about sampling or the command line.
"""
