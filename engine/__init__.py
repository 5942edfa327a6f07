"""Continuo's engine: the music, its files, its encoding, its models.

Pure Python (numpy, mido, onnxruntime). Never imports Qt or TensorFlow.
"""
