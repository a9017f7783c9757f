"""OpenAI's Videos API shape (``/v1/videos``, ``/v1/models``) over the same accounts, credits
and tasks as the GrokImagine shape."""
