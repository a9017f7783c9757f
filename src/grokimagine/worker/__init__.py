"""The worker: claims tasks from the database under a lease and runs them on an engine."""
