"""Dataset sources: image rows (images; their training-time augmentation in augment), text
corpora and generated tasks, with their vocabularies; and the pictures a user hands a
classifier (pictures)."""
