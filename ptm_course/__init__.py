"""ptm_course: the tested PyTorch package behind the pre-trained language models course."""

__version__ = "0.1.0"
