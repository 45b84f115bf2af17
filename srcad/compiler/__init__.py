"""The compiler shared by every transform: parse, normalise, infer types, then clean up and
render what a transform emitted."""
