"""llama.cpp as a real engine: GGUF probe models with random weights, llama-bench runs, traces."""
