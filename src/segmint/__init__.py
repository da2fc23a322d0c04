"""Segmint: self-hostable audience segmentation that speaks AEP's Segmentation API."""

__version__ = "0.1.0"
