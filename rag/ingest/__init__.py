"""Reading documents into chunks: formats, extraction, sentences, chunking, uploads."""
