"""Caption text, split files and the dataset the task batches."""
