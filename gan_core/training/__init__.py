"""The training loop over a run type's task, and the run folder it writes."""
