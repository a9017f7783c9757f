"""Relay engines: a provider's video API (xAI, any OpenAI-style ``/v1/videos`` server) as an engine.

``client`` speaks HTTP (retries, breaker, downloads), ``poll`` waits for a job, ``limits`` caps
jobs per provider key, ``errors`` names the failures; ``xai`` and ``openai_videos`` are the engines.
"""
