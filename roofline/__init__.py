"""moe-roofline: will this Mixture-of-Experts model beat a dense one on this device, and why?"""

__version__ = "0.1.0"
