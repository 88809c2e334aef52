"""Loading models: sources resolved into a plan, the pipeline cache, LoRAs, embeddings, motion
checkpoints, schedulers, speed options, the memory estimate, the demo model. Imports hub and
below."""
