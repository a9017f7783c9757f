"""The diffusers engine's parts: data (presets.json), request mapping, model loading, families.

Only :mod:`grokimagine.engines.diffusers.profiles` and :mod:`.mapping` are free of torch; the
rest imports torch and diffusers, which come with the ``gpu`` extra.
"""
