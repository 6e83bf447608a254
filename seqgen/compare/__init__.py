"""`seqgen compare`: an LSTM and a transformer of matched size trained for the same wall-clock time
on the same data, measured side by side (`run`), and the report written from the results (`report`)."""
