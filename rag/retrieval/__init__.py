"""Finding passages: BM25 and dense search, fusion, passage focus."""
