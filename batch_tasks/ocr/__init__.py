"""PP-OCR pre- and post-processing (our own), and the engine that owns the ONNX Runtime sessions."""
