"""Video engines, one module each, behind the interface in :mod:`grokimagine.engines.base`."""
