"""Model families: each kind of video model (AnimateDiff, Wan, ...) declared once, as data plus
a small class; everything else asks the family of the base model (registry.detect_family)."""
