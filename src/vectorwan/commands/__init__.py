"""CLI verbs (thin: parse arguments, call one function, print where results went)."""
