"""Checkpoints, run directories and the one training loop."""
