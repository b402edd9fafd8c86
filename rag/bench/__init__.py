"""The benchmark (`rag bench`): latency, retrieval at scale, indexing, cold start. Imports the pipeline; the core never imports it."""
