"""The engine: data types, component base classes, sessions, the model pool and the pipeline."""
