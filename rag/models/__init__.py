"""The model catalogue (packaged GGUF and embedding weights) and the embedder."""
