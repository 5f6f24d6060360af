"""A benchmarking and profiling harness for convolutional-network building blocks."""
