"""grokimagine: a self-hostable video generation service that speaks the GrokImagine API."""

__version__ = "0.1.0"
