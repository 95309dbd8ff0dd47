"""Declarative specs: devices, models, quantization formats, and where to find them."""

from roofline.specs.catalog import check_file, list_ids, load_device, load_model
from roofline.specs.hardware import Device, Processor
from roofline.specs.model import Model, Tensor

__all__ = ["Device", "Model", "Processor", "Tensor", "check_file", "list_ids", "load_device", "load_model"]
