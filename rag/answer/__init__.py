"""Answering from passages: prompts, generation backends, library cache, citation check, refusal decision."""
