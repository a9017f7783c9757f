"""Submitting work: the rules of a generate, extend or edit request, and the transaction."""
