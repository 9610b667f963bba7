"""Photo and video conversion with exported ONNX generators, on onnxruntime only (never MindSpore)."""
