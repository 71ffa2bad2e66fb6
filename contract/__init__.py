"""What training writes and serving trusts: the model card, the tokenizer, the graph contract.

Both `training/` and `service/` import this package; it imports neither of them, nor
TensorFlow. onnxruntime is imported only by `contract.sessions`.
"""
