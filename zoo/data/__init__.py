"""Dataset sources: image rows, text corpora and generated tasks, with their vocabularies."""
