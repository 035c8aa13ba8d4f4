"""Training: batching, the loss, the loop, its log and progress display."""
