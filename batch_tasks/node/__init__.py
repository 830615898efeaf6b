"""The node-local inference server: one process per node owns the accelerator and keeps models warm."""
