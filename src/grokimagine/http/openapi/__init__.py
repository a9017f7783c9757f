"""The OpenAPI document: shaped for client generators, corrected where FastAPI's defaults
differ from what the server does."""
