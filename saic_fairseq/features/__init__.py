"""Image features: the HDF5 store the task reads, its writer, and the converters into it."""
