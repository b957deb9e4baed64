"""Performance measurements: the machine's matrix-multiply ceiling, model training throughput, MFU."""
