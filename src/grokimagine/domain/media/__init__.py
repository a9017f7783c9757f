"""Inputs of a task: images and source videos, fetched or decoded, then validated."""
